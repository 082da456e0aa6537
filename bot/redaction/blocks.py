"""Private keys and webhook URLs, tokens recognisable by their shape, password hashes.

Rules run in the order of `engine.RULES`: this family's place in it matters, and so does the order here.
"""

from __future__ import annotations

from .patterns import (
    _B64,
    _LINE,
    _NOT_MASKED,
    _SP,
    _TB,
    _URLSAFE,
    _Rule,
    _rule,
    _word,
)

RULES: tuple[_Rule, ...] = (
    # Whole private-key blocks first: their base64 could look like anything else. A block cut off before
    # its END line is masked as far as its base64 goes.
    _rule(
        "private_key",
        r"(?P<x>-----BEGIN (?:[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?|OpenVPN Static key V1)-----"
        r"(?:[\s\S]{0,20000}?-----END [^\r\n\-]{1,60}-----"
        rf"|(?:(?:\\[rn]|\s)+(?:{_B64}{{8,}}(?![^\s\\])|(?:Proc-Type|DEK-Info|Comment):[^\r\n\\]*))*))",
        ("-----begin",),
    ),
    _rule(
        "private_key",
        rf"\"private_key\"\s*:\s*\"{_NOT_MASKED}(?P<x>(?:[^\"\\\r\n]|\\.)+)\"",
        ("private_key",),
    ),
    _rule(  # PuTTY .ppk
        "private_key",
        rf"Private-Lines:{_SP}*[0-9]+{_SP}*\r?\n(?P<x>{_B64}+(?![^\r\n])(?:\r?\n{_B64}+(?![^\r\n]))*)",
        ("private-lines",),
    ),
    _rule(  # WireGuard
        "private_key",
        rf"(?:private|preshared)[_\-]?key[\"']?{_SP}*[:=]{_SP}*[\"']?{_NOT_MASKED}(?P<x>[a-z0-9+/]{{40,}}=*)",
        ("private", "preshared"),
        mode="lower",
    ),
    # Webhook URLs: the path is the credential.
    _rule(
        "webhook_url",
        r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<x>[a-z0-9/_\-]+)",
        ("hooks.slack.com",),
        mode="lower",
    ),
    _rule(
        "webhook_url",
        r"https?://[a-z0-9.\-]{0,100}(?:outlook\.office(?:365)?\.com|webhook\.office\.com)"
        rf"/webhook(?:b2)?/{_NOT_MASKED}(?P<x>[^\s\"'<>]+)",
        ("office",),
        mode="lower",
    ),
    _rule(
        "webhook_url",
        r"https?://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/(?P<x>[0-9]+/[a-z0-9_\-]+)",
        ("discord",),
        mode="lower",
    ),
    _rule(
        "azure_function_key",
        r"\.azurewebsites\.net/[^\s?#]{0,300}\?(?>(?:[^\s#&]{0,300}&){0,20}?code=)"
        rf"{_NOT_MASKED}(?P<x>[^\s&#\"'<>]+)",
        ("azurewebsites",),
        mode="lower",
    ),
    # Tokens recognisable by their own shape, wherever they appear.
    _rule("jwt", rf"(?P<x>eyJ{_URLSAFE}{{2,}}\.eyJ{_URLSAFE}{{2,}}\.{_URLSAFE}*)", ("eyj",)),
    _rule("anthropic_key", rf"(?P<x>sk-ant-{_URLSAFE}{{20,}})", ("sk-ant-",)),
    _rule(
        "openai_key",
        rf"(?P<x>sk-(?<![A-Za-z0-9_\-]sk-)(?!ant-)(?=[A-Za-z0-9_\-]{{0,200}}[0-9]){_URLSAFE}{{20,}})",
        ("sk-",),
    ),
    _rule("github_token", r"(?P<x>gh[pousr]_(?<![A-Za-z0-9]gh._)[A-Za-z0-9]{36,255})", ("gh",)),
    _rule("github_token", r"(?P<x>github_pat_[A-Za-z0-9_]{22,255})", ("github_pat_",)),
    _rule("gitlab_token", rf"(?P<x>gl(?:pat|ptt|dt|rt|soat|cbt)-{_URLSAFE}{{20,}})", ("gl",)),
    _rule(
        "slack_token",
        r"(?P<x>x(?<![A-Za-z0-9]x)(?:ox[abprs]|oxe(?:\.xox[bp])?|app)-[A-Za-z0-9\-]{10,})",
        ("xox", "xapp-"),
    ),
    _rule(
        "stripe_key",
        r"(?P<x>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})",
        ("_live_", "_test_", "whsec_"),
    ),
    _rule("sendgrid_key", rf"(?P<x>SG\.{_URLSAFE}{{16,32}}\.{_URLSAFE}{{16,64}})", ("sg.",)),
    _rule("npm_token", r"(?P<x>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])", ("npm_",)),
    _rule("pypi_token", rf"(?P<x>pypi-{_URLSAFE}{{50,}})", ("pypi-",)),
    _rule(
        "vault_token", r"(?P<x>hv[sbr]\.(?<![A-Za-z0-9_]hv.\.)[A-Za-z0-9_\-]{24,})", ("hvs.", "hvb.", "hvr.")
    ),
    _rule("google_oauth_secret", r"(?P<x>GOCSPX-[A-Za-z0-9_\-]{20,})", ("gocspx-",)),
    _rule(
        "atlassian_token",
        r"(?P<x>A(?<![A-Za-z0-9]A)T(?:ATT|CTT|BB)[A-Za-z0-9_\-=]{20,})",
        ("atatt", "atctt", "atbb"),
    ),
    _rule(
        "grafana_token",
        r"(?P<x>glsa_[A-Za-z0-9]{32}_[0-9a-fA-F]{8}|glc_[A-Za-z0-9+/]{20,}={0,2}|eyJrIjoi[A-Za-z0-9+/]{20,}={0,2})",
        ("glsa_", "glc_", "eyjrijoi"),
    ),
    _rule(  # Discord bot token: the bot's id in base64, a timestamp, an HMAC
        "discord_token",
        r"(?P<x>[MNO](?<![A-Za-z0-9_\-.][MNO])(?=[A-Za-z0-9_\-]{0,27}[0-9])[A-Za-z0-9_\-]{23,27}"
        r"\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})(?![A-Za-z0-9_\-.])",
        (".",),
    ),
    _rule(  # Telegram bot token
        "api_token",
        r"(?P<x>[0-9](?<![0-9][0-9])[0-9]{7,9}:AA[A-Za-z0-9_\-]{33})(?![A-Za-z0-9_\-])",
        (":aa",),
    ),
    _rule(  # SaaS tokens named by their prefix: Shopify, DigitalOcean, Docker Hub, Postman, New Relic, …
        "api_token",
        rf"(?P<x>(?:{_word('shp', before=_TB)}(?:at|ss|ca|pa)_[a-fA-F0-9]{{32}}"
        rf"|{_word('do', before=_TB)}[opr]_v1_[a-f0-9]{{64}}"
        rf"|{_word('dckr_pat_', 'PMAK-', 'NRAK-', 'dapi', 'lin_api_', 'pul-', 'sntr', 'dt0c01.', 'dp.', 'ops_eyJ', 'hf_', before=_TB)}"
        r"(?:(?<=dckr_pat_)[A-Za-z0-9_\-]{20,}|(?<=PMAK-)[a-fA-F0-9]{24}-[a-fA-F0-9]{34}|(?<=NRAK-)[A-Z0-9]{27}"
        r"|(?<=dapi)[a-f0-9]{32}|(?<=lin_api_)[A-Za-z0-9]{40}|(?<=pul-)[a-f0-9]{40}|(?<=sntr)[ysu]_[A-Za-z0-9_=+/\-]{40,}"
        r"|(?<=dt0c01\.)[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}|(?<=dp\.)(?:st|ct|sa|scim|audit)\.[A-Za-z0-9_\-]{40,}"
        r"|(?<=ops_eyJ)[A-Za-z0-9+/=_\-]{40,}|(?<=hf_)[A-Za-z0-9]{34,})))(?![A-Za-z0-9_\-])",
        tuple("shp _v1_ dckr_pat_ pmak- nrak- dapi lin_api_ pul- sntr dt0c01. ops_ hf_".split()),
    ),
    _rule(
        "google_oauth_token",
        rf"(?P<x>ya29\.{_URLSAFE}{{20,}}|1//0{_URLSAFE}{{30,}})",
        ("ya29.", "1//0"),
    ),
    _rule("gcp_api_key", rf"(?P<x>AIza{_URLSAFE}{{35}})(?![A-Za-z0-9_\-])", ("aiza",)),
    # The AWS console's credentials.csv: `User name,Password,Access key ID,Secret access key,Console login link`.
    _rule(
        "aws_secret_key",
        r",(?<=(?<![A-Za-z0-9])A(?:KIA|SIA)[A-Z0-9]{16},)(?P<x>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        ("akia", "asia"),
    ),
    _rule(
        "password",
        rf"{_LINE}[^,\r\n]{{1,128}},{_NOT_MASKED}(?P<x>[^,\r\n]{{1,128}}),"
        r"(?=A(?:KIA|SIA)[A-Z0-9]{16},|https://[^,\s]{1,100}\.signin\.aws\.amazon\.com)",
        ("signin.aws.amazon.com", "akia", "asia"),
    ),
    _rule(
        "aws_access_key",
        r"(?P<x>A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16})(?![A-Za-z0-9])",
        ("akia", "asia", "abia", "acca"),
    ),
    _rule("twilio_api_key", r"(?P<x>SK(?<![A-Za-z0-9]SK)[0-9a-f]{32})(?![A-Za-z0-9])", ("sk",)),
    _rule(  # an auth token on the same line as its account SID
        "twilio_auth_token",
        r"AC(?<![A-Za-z0-9]AC)[0-9a-f]{32}[^\r\n]{1,40}?(?<![0-9a-fA-F])(?P<x>[0-9a-f]{32})(?![0-9a-zA-Z])",
        ("ac",),
    ),
    _rule(  # Entra ID (Azure AD) client secret values: `abc8Q~...`
        "client_secret",
        r"(?P<x>Q~(?<=[A-Za-z0-9_~.]{3}[0-9]Q~)[A-Za-z0-9_~.\-]{31,34})(?![A-Za-z0-9_~.\-])",
        ("q~",),
        back=4,
    ),
    # Password hashes: as good as the password to whoever holds them (pass-the-hash, offline cracking).
    _rule(  # pwdump / secretsdump: user:rid:LM:NT:::
        "password_hash",
        r":[0-9]{1,10}:(?P<x>[0-9a-f]{32}:[0-9a-f]{32}):::",
        (":::",),
        mode="lower",
    ),
    _rule(  # mimikatz: `* NTLM : <hash>`, `* SHA1 : <hash>`
        "password_hash",
        rf"(?:\*{_SP}*(?:ntlm|lm|sha1)|ntlm(?:{_SP}*hash)?){_SP}*:{_SP}*(?P<x>[0-9a-f]{{32}}(?:[0-9a-f]{{8}})?)(?![0-9a-z])",
        ("ntlm", "sha1", "lm"),
        mode="lower",
    ),
    _rule(  # mimikatz ekeys / secretsdump Kerberos keys
        "password_hash",
        rf"(?:aes(?:128|256)[_\-](?:cts[_\-])?hmac(?:[_\-]sha1[_\-]96)?|rc4[_\-]hmac(?:[_\-]nt)?|des[_\-]cbc[_\-]md5)"
        rf"(?:{_SP}+|:)(?P<x>[0-9a-f]{{16,64}})(?![0-9a-z])",
        ("hmac", "des"),
        mode="lower",
    ),
    _rule(  # NetNTLMv2 (Responder, hashcat 5600): user::DOMAIN:challenge:NTProofStr:blob
        "password_hash",
        r"::[^:\s]{0,64}:[0-9a-f]{16}:(?P<x>[0-9a-f]{32}:[0-9a-f]{40,})",
        ("::",),
        mode="lower",
    ),
    _rule(  # crypt(3) hashes: /etc/shadow, htpasswd, Cisco type 5/8/9, Junos $9$, bcrypt, yescrypt, argon2
        "password_hash",
        r"(?P<x>\$(?<![\w$]\$)(?:1|2[abxy]?|5|6|7|8|9|y|gy|sha1|md5|apr1|argon2(?:id|i|d)|pbkdf2(?:-sha(?:1|256|512))?"
        r"|scrypt)\$(?=[./0-9$=,+\-]{0,511}[A-Za-z])[./A-Za-z0-9$=,+\-]{8,512})",
        ("$",),
    ),
    _rule("password_hash", r"(?P<x>\$krb5(?:tgs|asrep|pa)\$[^\s\"'<>]{16,})", ("$krb5",)),
)
