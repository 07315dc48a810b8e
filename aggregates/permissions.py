"""The permission catalogue: one entry for each thing an account may be allowed
to do, covering every command of the product (manual 12, 子账户管理).

An enterprise's administrator holds all of them. A sub-account holds what its
role grants, chosen from the assignable entries. Three kinds are not
assignable: "enterprise information" and "sub-accounts" (with review-flow
settings) are the administrator's alone; every account may look after its
own sign-in and profile; and reviewing is no permission at all, since it
follows from the review flows that name a role or an account (manual 12,
审核设置).

Entries for capabilities still to come (library, exchange, signing) are here
already, so that roles created today can grant them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Grant(enum.Enum):
    #: A role may grant it.
    ASSIGNABLE = "assignable"
    #: Only the enterprise's administrator holds it.
    ADMINISTRATOR = "administrator"
    #: Every account holds it (its own sessions and profile).
    EVERY_ACCOUNT = "every_account"


@dataclass(frozen=True)
class Permission:
    name: str
    group: str
    label_zh: str
    label_en: str
    grant: Grant = Grant.ASSIGNABLE
    #: Refused until the platform has approved the enterprise (manual 5.1).
    needs_verification: bool = True


_A = Grant.ADMINISTRATOR
_E = Grant.EVERY_ACCOUNT

CATALOGUE: tuple[Permission, ...] = (
    # Own account: every account.
    Permission("sessions.own", "account", "登录会话", "own sessions", _E, False),
    Permission("account.own", "account", "账户管理", "own account", _E, False),
    # The administrator's alone.
    Permission(
        "enterprise.manage", "settings", "企业信息", "enterprise information", _A, False
    ),
    Permission("organisation.manage", "settings", "子账户管理", "sub-accounts", _A),
    Permission(
        "review_flows.manage", "settings", "审核设置", "review-flow settings", _A
    ),
    # Settings a role may be given.
    Permission(
        "enterprises.read",
        "settings",
        "查看企业信息",
        "read enterprise",
        needs_verification=False,
    ),
    Permission("organisation.read", "settings", "查看部门与账户", "read departments"),
    Permission("review_flows.read", "settings", "查看审核流", "read review flows"),
    Permission(
        "address_book.read",
        "settings",
        "查看通讯录",
        "read address book",
        needs_verification=False,
    ),
    Permission(
        "address_book.manage",
        "settings",
        "维护通讯录",
        "edit address book",
        needs_verification=False,
    ),
    Permission(
        "product_requests.manage",
        "settings",
        "产品索取设置",
        "product-request settings",
        needs_verification=False,
    ),
    Permission(
        "audit.read", "settings", "操作记录", "audit trail", needs_verification=False
    ),
    Permission(
        "history.read",
        "settings",
        "资料历史",
        "record history",
        needs_verification=False,
    ),
    Permission("directory.read", "exchange", "企业目录", "directory"),
    # First-business exchange (manual 6).
    Permission("exchange.send", "exchange", "我要发送", "compose and submit"),
    Permission("exchange.seal", "exchange", "签章发送", "seal and send"),
    Permission("exchange.outbox", "exchange", "发件箱", "outbox"),
    Permission("exchange.withdraw", "exchange", "撤回", "withdraw"),
    Permission("exchange.inbox", "exchange", "收件箱", "inbox"),
    Permission("exchange.accept", "exchange", "查收与拒收", "accept and reject"),
    Permission("exchange.accept_all", "exchange", "一键查收", "accept a whole page"),
    Permission("exchange.download", "exchange", "下载资料包", "download packages"),
    Permission("products.request", "exchange", "索取产品资料", "request products"),
    # Inspection reports (manual 8).
    Permission("inspection.send", "inspection", "发送检验报告", "send reports"),
    Permission("inspection.inbox", "inspection", "接收检验报告", "receive reports"),
    # Contracts.
    Permission("contracts.manage", "contracts", "合同管理", "contracts"),
    Permission("contracts.sign", "contracts", "合同签署", "sign contracts"),
    # Library (manual 9).
    Permission("library.read", "library", "查看资料库", "read library"),
    Permission("library.manage", "library", "维护资料", "edit records and files"),
    Permission("library.delete", "library", "删除与回收站", "delete and recycle bin"),
    Permission("library.import", "library", "批量导入", "batch import"),
    Permission("library.export", "library", "导出与下载", "export and download"),
    Permission("expiry.read", "library", "效期预警", "expiry warnings"),
    Permission(
        "library.settings", "library", "基础信息与资质类型设置", "library settings"
    ),
    Permission("documents.recognise", "library", "图文识别", "recognise images"),
    # Signing (manual 12).
    Permission("certificates.manage", "signing", "证书管理", "certificates"),
    Permission("seals.manage", "signing", "印章管理", "seal images"),
    Permission("signatures.verify", "signing", "验签", "verify signatures"),
    # Messages (manual 13).
    Permission("messages.read", "messages", "消息中心", "messages"),
)

BY_NAME = {p.name: p for p in CATALOGUE}
ENTERPRISE_WIDE = frozenset(BY_NAME)
ASSIGNABLE = frozenset(p.name for p in CATALOGUE if p.grant is Grant.ASSIGNABLE)
EVERY_ACCOUNT = frozenset(p.name for p in CATALOGUE if p.grant is Grant.EVERY_ACCOUNT)
ADMINISTRATOR_ONLY = frozenset(
    p.name for p in CATALOGUE if p.grant is Grant.ADMINISTRATOR
)
NEEDS_VERIFICATION = frozenset(p.name for p in CATALOGUE if p.needs_verification)
