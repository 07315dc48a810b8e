"""Errors as RFC 9457 problem documents with a stable machine ``code``.

Titles are given in Chinese (the default) and English, chosen by
``Accept-Language``; ``detail`` says what exactly was wrong.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

PROBLEM_TYPE = "https://shouying.example/problems/"

TITLES: dict[str, tuple[str, str]] = {
    "VALIDATION_FAILED": ("请求内容不符合要求", "The request is not valid"),
    "MALFORMED_JSON": ("请求体不是合法的 JSON", "The request body is not valid JSON"),
    "BODY_TOO_LARGE": ("请求体过大", "The request body is too large"),
    "UNSUPPORTED_MEDIA_TYPE": ("不支持的内容类型", "Unsupported content type"),
    "UNAUTHENTICATED": ("需要登录", "Authentication is required"),
    "WRONG_PASSWORD": ("当前密码错误", "The current password is wrong"),
    "CAPTCHA_REQUIRED": ("请输入图形验证码", "Solve the captcha"),
    "INVALID_TOKEN": ("令牌无效，请重新登录", "The token is not valid"),
    "REFRESH_TOKEN_REUSED": (
        "刷新令牌已使用，请重新登录",
        "The refresh token was used",
    ),
    "SESSION_CLOSED": ("会话已退出，请重新登录", "The session was signed out"),
    "SESSION_EXPIRED": ("会话已过期，请重新登录", "The session has expired"),
    "FORBIDDEN": ("没有该操作的权限", "You lack the permission for this"),
    "NOT_FOUND": ("资源不存在", "Not found"),
    "METHOD_NOT_ALLOWED": ("不支持该请求方法", "Method not allowed"),
    "CONFLICT": ("数据已被他人修改，请刷新后重试", "Changed by someone else; reload"),
    "IDEMPOTENCY_KEY_REUSED": (
        "幂等键已用于另一请求",
        "The Idempotency-Key was used for another request",
    ),
    "INVALID_VALUE": ("字段值不合法", "A field has an invalid value"),
    "INVALID_USCC": ("统一社会信用代码不合法", "Invalid unified social credit code"),
    "WEAK_PASSWORD": ("密码不符合要求", "The password is too weak"),
    "ENTERPRISE_EXISTS": ("该企业已存在，不可重复注册", "The enterprise exists"),
    "ENTERPRISE_NAME_TAKEN": ("该企业正在注册中", "The enterprise is being registered"),
    "MOBILE_TAKEN": ("手机号已被使用", "The mobile number is taken"),
    "INVALID_MOBILE": ("手机号格式不正确", "Invalid mobile number"),
    "INVALID_ID_NUMBER": ("身份证号码不合法", "Invalid ID number"),
    "INVITE_CODE_LOCKED": ("邀请码不可修改", "The invite code is fixed"),
    "UNKNOWN_INVITE_CODE": ("邀请码不存在", "Unknown invite code"),
    "REGISTRATION_EXPIRED": ("已超过24小时完善期限", "The 24 hours have passed"),
    "ENTERPRISE_UNDER_REVIEW": ("企业信息审核中", "The information is under review"),
    "CATEGORY_LOCKED": ("审核通过后企业类别不可修改", "The category is fixed"),
    "INFORMATION_MISSING": ("请先完善企业信息", "Record the information first"),
    "INVALID_EMAIL": ("电子邮箱格式不正确", "Invalid e-mail address"),
    "ADDRESS_ENTRY_EXISTS": ("通讯录中已有该企业", "Already in the address book"),
    "ADDRESS_BOOK_FULL": ("通讯录已满，请先删除部分企业", "The address book is full"),
    "IMPORT_BAD_HEADER": ("表头与模板不一致", "The header differs from the template"),
    "IMPORT_NO_ROWS": ("文件中没有可导入的数据", "The sheet has no rows"),
    "IMPORT_TOO_MANY_ROWS": ("数据超过 2000 行，请分批导入", "Too many rows"),
    "IMPORT_EXAMPLE_ROW": ("模板示例行，请删除后导入", "The template's example row"),
    "SMS_TOO_FREQUENT": ("验证码发送过于频繁，请稍后再试", "Too many codes; wait"),
    "SMS_DAILY_LIMIT": ("今日验证码次数已用完", "No more codes today"),
    "SMS_CODE_INVALID": ("验证码已失效，请重新获取", "The code is no longer valid"),
    "SMS_CODE_WRONG": ("验证码错误", "The code is wrong"),
    "ENTERPRISE_NOT_VERIFIED": ("企业尚未审核通过", "The enterprise is not verified"),
    "USCC_TAKEN": ("该统一社会信用代码已注册", "The credit code is registered"),
    "USERNAME_TAKEN": ("用户名已被使用", "The username is taken"),
    "ENTERPRISE_NOT_PENDING": ("企业不在待审核状态", "The enterprise is not pending"),
    "INVALID_STATE": ("当前状态不允许该操作", "Not allowed in the current state"),
    "INVALID_CURSOR": ("分页游标不合法", "Invalid cursor"),
    "SERVICE_UNAVAILABLE": ("服务暂不可用", "Service unavailable"),
    "UNSUPPORTED_FILE": ("不支持的文件类型", "Unsupported file type"),
    "BROKEN_FILE": ("文件已损坏，无法读取", "The file is damaged"),
    "FILE_TOO_LARGE": ("文件过大", "The file is too large"),
    "IMAGE_TOO_LARGE": ("图片尺寸过大", "The image is too large"),
    "EMPTY_PAGE": ("页面为空白，未识别到文字", "The page is blank"),
    "RECOGNITION_TIMEOUT": ("识别超时，请稍后重试", "Recognition timed out"),
    "RECOGNITION_FAILED": ("识别失败", "Recognition failed"),
    "ENGINE_UNAVAILABLE": ("识别服务不可用", "The OCR engine is unavailable"),
    "PASSWORD_CHANGE_REQUIRED": ("请先修改默认密码", "Change the default password"),
    "ACCOUNT_CLOSED": ("账户已删除", "The account was deleted"),
    "NOT_A_SUB_ACCOUNT": ("仅适用于子账户", "Only for sub-accounts"),
    "DEPARTMENT_NAME_TAKEN": ("部门名称已存在", "The department name is taken"),
    "DEPARTMENT_HAS_ROLES": ("部门下还有角色，不可删除", "The department has roles"),
    "TOO_MANY_DEPARTMENTS": ("部门数量已达上限", "Too many departments"),
    "ROLE_NAME_TAKEN": ("角色名称已存在", "The role name is taken"),
    "ROLE_HAS_ACCOUNTS": ("角色下还有子账户，不可删除", "Accounts hold the role"),
    "ROLE_IN_REVIEW_FLOW": ("该角色被审核流指定，不可删除", "A flow uses the role"),
    "ADMIN_ROLE_FIXED": ("系统管理员角色不可修改或删除", "The admin role is fixed"),
    "ADMIN_ACCOUNT_FIXED": ("管理员账户不可删除", "The administrator stays"),
    "TOO_MANY_ROLES": ("角色数量已达上限", "Too many roles"),
    "INVALID_PERMISSION": ("该权限不可分配", "The permission cannot be granted"),
    "TOO_MANY_ACCOUNTS": ("单次最多新增 10 个子账户", "At most 10 accounts at once"),
    "ACCOUNT_IN_REVIEW_FLOW": (
        "该账户被审核流指定为审核人员",
        "A review flow names the account",
    ),
    "ACCOUNT_HOLDS_REVIEW": ("该账户有进行中的审核", "The account holds a review"),
    "INVALID_REVIEW_FLOW": ("审核流设置不合法", "The review flow is not valid"),
    "REVIEW_FLOW_NAME_TAKEN": ("审核流名称已存在", "The review flow name is taken"),
    "REVIEW_FLOW_IN_USE": ("审核流有资料审核中，不可修改或删除", "The flow is in use"),
    "TOO_MANY_REVIEW_FLOWS": ("审核流数量已达上限", "Too many review flows"),
    "REVIEW_IN_PROGRESS": ("资料包审核中", "The package is under review"),
    "REVIEW_FLOW_TRIGGER": ("审核流的触发场景不符", "The flow is for the other side"),
    "NOT_YOUR_REVIEW": ("未轮到您审核", "It is not your review"),
    "REVIEW_LOCKED": ("该审核已被他人锁定", "Another reviewer opened it first"),
    "REVIEW_FINISHED": ("审核已结束", "The review has finished"),
    "REVIEW_INCOMPLETE": ("终审须审核全部文件", "The final level judges every file"),
    "OPINION_REQUIRED": ("审核不通过时需填写审核意见", "A failed file needs a reason"),
    "REVIEW_NOT_FAILED": ("审核未驳回，不可删除", "The review did not fail"),
    "UNKNOWN_RECIPIENT": ("收件企业不在平台或未认证", "The recipient is not verified"),
    "UNKNOWN_RECEIVER": ("收件企业未显示该接收部门或人员", "No such receiver shown"),
    "PACKAGE_UNDER_REVIEW": ("资料包审核中", "The package is under review"),
    "PACKAGE_ACCEPTED": ("已有收件方查收，不可撤回", "A recipient has accepted it"),
    "PACKAGE_STATE": ("资料包当前状态不允许该操作", "Not allowed in this state"),
    "TOO_MANY_RECIPIENTS": ("收件企业不能超过 100 家", "At most 100 recipients"),
    "TOO_MANY_PRODUCTS": ("首营品种不能超过 50 个", "At most 50 products"),
    "TOO_MANY_ENTERPRISE_DOSSIERS": (
        "企业资料最多 1 个",
        "At most one enterprise dossier",
    ),
    "TOO_MANY_REPORTS": ("检验报告不能超过 50 份", "At most 50 reports"),
    "PACKAGE_ALREADY_ACCEPTED": ("资料包已查收", "The package was accepted"),
    "PACKAGE_ALREADY_REJECTED": ("资料包已拒收", "The package was rejected"),
    "PACKAGE_WITHDRAWN": ("资料包已撤回", "The package was withdrawn"),
    "SEAL_OVERLAP": ("签章位置与已有签章重叠", "The seal overlaps another"),
    "SIGNING_PASSWORD_WRONG": ("签章密码错误", "The signing password is wrong"),
    "NO_ACTIVE_CERTIFICATE": ("没有可用的证书", "No active certificate"),
    "SEAL_IMAGE_NOT_APPROVED": ("印章尚未审核通过", "The seal image is not approved"),
    "RECORD_ARCHIVED": (
        "存在已归档文件，不可修改或删除",
        "The record holds archived files",
    ),
    "INFO_CARD_INCOMPLETE": ("信息卡必填项缺失", "The info card is incomplete"),
    "INTERNAL_ERROR": ("服务器内部错误", "Internal server error"),
}


def prefers_english(request: Request) -> bool:
    language = request.headers.get("accept-language", "zh-CN").strip().lower()
    return language.startswith("en")


def problem(
    request: Request,
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    zh, en = TITLES.get(code, (code, code))
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code.lower().replace("_", "-"),
        "title": en if prefers_english(request) else zh,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = errors
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )
