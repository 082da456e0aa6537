"""One small async HTTP client per PSA, each implementing bot.psa.PsaConnector (the core never imports these).

`connectwise.ConnectWiseConnector`, `autotask.AutotaskConnector`, `halopsa.HaloPsaConnector`: each takes its
settings as a frozen dataclass and an optional aiohttp session; `http` holds what they share.
"""
