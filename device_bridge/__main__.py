"""``python -m device_bridge``: run the agent (see :mod:`device_bridge.agent`)."""

from device_bridge.agent import main

raise SystemExit(main())
