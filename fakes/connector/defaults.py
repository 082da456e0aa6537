"""The ids, names and limits a Teams conversation with the bot starts from."""

from __future__ import annotations

DEFAULT_TENANT_ID = "6f1c2b9e-3d4a-4e8b-9c1d-2a3b4c5d6e7f"
DEFAULT_BOT_APP_ID = "b0770000-1111-4222-8333-444455556666"
DEFAULT_BOT_ID = f"28:{DEFAULT_BOT_APP_ID}"
DEFAULT_BOT_NAME = "FlowPilot"
DEFAULT_USER_ID = "29:1kXq3Wm8pT0vYbN7rC2dE5fG6hJ9kL4mN0pQ1rS3tU5vW7xY9zA"
DEFAULT_USER_AAD_ID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
DEFAULT_USER_NAME = "Ada Lovelace"
DEFAULT_PERSONAL_CONVERSATION_ID = "a:1Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_personal-chat"
DEFAULT_TEAM_ID = "19:Qm3tN4pR5sT6uV7wX8yZ9aB0cD1eF2gH@thread.tacv2"
DEFAULT_CHANNEL_ID = "19:7c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f@thread.tacv2"
DEFAULT_GROUP_CHAT_ID = "19:b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7@thread.v2"

# Teams rejects bot messages over about 28 KB (the limit counts the whole JSON payload).
MAX_PAYLOAD_BYTES = 28 * 1024
# Teams ends a stream two minutes after it started.
STREAM_TIME_LIMIT_SECONDS = 120.0
MAX_INFORMATIVE_CHARS = 1000

FIRST_ACTIVITY_ID = 1_767_225_600_000  # Teams activity ids are epoch milliseconds.
