"""Secrets an engineer pastes are masked; ordinary troubleshooting text is left alone."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.redaction import Redaction, redact
from tests.reliability.secret_catalogue import CATALOGUE, FAMILIES, Sample, as_masked, corpus_lines

# Every token below is made up for these tests.
PEM_RSA = """-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun
VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK
-----END RSA PRIVATE KEY-----"""
PEM_EC = """-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oYXxq1+Yh0tZoAoGCCqGSM49
-----END EC PRIVATE KEY-----"""
PEM_OPENSSH = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDcTSQZ3yH0ltGmsODk4Ntu0DA5ZsJ2SmLqJFGKL2qKUQAAAJgFk4pABZOK
-----END OPENSSH PRIVATE KEY-----"""
PEM_PKCS8 = """-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj
-----END PRIVATE KEY-----"""
PUTTY = """PuTTY-User-Key-File-3: ssh-ed25519
Encryption: none
Comment: ed25519-key-20240301
Public-Lines: 2
AAAAC3NzaC1lZDI1NTE5AAAAIHm8xjYdH1z9Nsg5mB0rwZGbXq9qpR4pXc3uWv7B
pSxa
Private-Lines: 1
AAAAIFh0cGNRkT2gUQ3mDnu0vOG8Zl5Zr4CkYlZkq5rP9pZx
Private-MAC: 5d1e7b1b0d8f6a7e9c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d"""

SECRET_CASES = [
    # AWS
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "aws_access_key_id = [REDACTED:aws_access_key]"),
    ("export AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A", "export AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key]"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = [REDACTED:aws_secret_key]",
    ),
    (
        '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",',
        '"SecretAccessKey": "[REDACTED:aws_secret_key]",',
    ),
    # Google
    (
        "https://maps.googleapis.com/maps/api/geocode/json?key=AIzau8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8&x=1",
        "https://maps.googleapis.com/maps/api/geocode/json?key=[REDACTED:gcp_api_key]&x=1",
    ),
    (
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0B'
        'AQEFAASC\\n-----END PRIVATE KEY-----\\n", "client_email": "svc@proj.iam.gserviceaccount.com"}',
        '{"type": "service_account", "private_key": "[REDACTED:private_key]\\n", '
        '"client_email": "svc@proj.iam.gserviceaccount.com"}',
    ),
    (
        "Authorization: Bearer ya29.rZSgqbjG3uhkWKFLf6xuI5aHUQPFeNBTxaQWk8JzFalHlsZfYcMMDktXP_tK",
        "Authorization: Bearer [REDACTED:google_oauth_token]",
    ),
    # Azure
    (
        "DefaultEndpointsProtocol=https;AccountName=stprod01;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUz"
        "FT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net",
        "DefaultEndpointsProtocol=https;AccountName=stprod01;AccountKey=[REDACTED:azure_storage_key];"
        "EndpointSuffix=core.windows.net",
    ),
    (
        "GET https://stprod01.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&sp=r"
        "&se=2024-12-31T00:00:00Z&sig=abcDEF123%2Bxyz%3D HTTP/1.1 403",
        "GET https://stprod01.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&sp=r"
        "&se=2024-12-31T00:00:00Z&sig=[REDACTED:azure_sas_signature] HTTP/1.1 403",
    ),
    ("client_secret=s3cr3tV4lu3AbC", "client_secret=[REDACTED:client_secret]"),
    (
        "Connect-MgGraph -ClientSecretCredential UNP8Q~sf-2.r.cDkdfrUnW5gcF_Ha6i.li8GjHEA",
        "Connect-MgGraph -ClientSecretCredential [REDACTED:client_secret]",
    ),
    (
        "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=AbCdEf123+/GhIjKl456=",
        "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        "SharedAccessKey=[REDACTED:azure_shared_access_key]",
    ),
    # SQL Server connection strings
    (
        "Server=tcp:sql01,1433;Database=Billing;User Id=sa;Password=P@ss w0rd!;Encrypt=True",
        "Server=tcp:sql01,1433;Database=Billing;User Id=sa;Password=[REDACTED:password];Encrypt=True",
    ),
    (
        "Data Source=sql01;Initial Catalog=app;Uid=app;Pwd=Xk29!pq;",
        "Data Source=sql01;Initial Catalog=app;Uid=app;Pwd=[REDACTED:password];",
    ),
    ("Password={p;ss};Server=x", "Password={[REDACTED:password]};Server=x"),
    # Generic settings
    ("password=hunter2", "password=[REDACTED:password]"),
    ("passwd: hunter2", "passwd: [REDACTED:password]"),
    ("pwd=hunter2", "pwd=[REDACTED:password]"),
    (
        '{"username": "jdoe", "password": "hun\\"ter2"}',
        '{"username": "jdoe", "password": "[REDACTED:password]"}',
    ),
    (
        "smtp:\n  user: alerts\n  password: Tr0ub4dor&3\n",
        "smtp:\n  user: alerts\n  password: [REDACTED:password]\n",
    ),
    ("MYSQL_ROOT_PASSWORD=Sup3rS3cret", "MYSQL_ROOT_PASSWORD=[REDACTED:password]"),
    ('$password = "Winter2024!"', '$password = "[REDACTED:password]"'),
    ("secret=abcdef123456", "secret=[REDACTED:secret]"),
    ("SECRET_KEY = 'django-insecure-9x8y7z'", "SECRET_KEY = '[REDACTED:secret]'"),
    ("token=abc123def456", "token=[REDACTED:token]"),
    ('"refresh_token": "0.AXkA-abcdef"', '"refresh_token": "[REDACTED:token]"'),
    ("api_key=0123456789abcdef", "api_key=[REDACTED:api_key]"),
    ("apikey: 0123456789abcdef", "apikey: [REDACTED:api_key]"),
    ("x-api-key: 0123456789abcdef", "x-api-key: [REDACTED:api_key]"),
    ("Ocp-Apim-Subscription-Key: 0123456789abcdef", "Ocp-Apim-Subscription-Key: [REDACTED:api_key]"),
    ("<AdminPassword>Pa55w0rd!</AdminPassword>", "<AdminPassword>[REDACTED:password]</AdminPassword>"),
    ("define('DB_PASSWORD', 'wp-s3cret');", "define('DB_PASSWORD', '[REDACTED:secret]');"),
    # HTTP authorization
    ("Authorization: Bearer 2YotnFZFEjr1zCsicMWpAA", "Authorization: Bearer [REDACTED:bearer_token]"),
    ("Authorization: Basic YWRtaW46cGFzc3dvcmQ=", "Authorization: Basic [REDACTED:basic_auth]"),
    ("curl -u admin:Sekr1t https://nas01/api", "curl -u admin:[REDACTED:password] https://nas01/api"),
    (
        "Proxy-Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
        "Proxy-Authorization: NTLM [REDACTED:authorization]",
    ),
    (
        "id_token=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "id_token=[REDACTED:jwt]",
    ),
    # Private keys, whole block
    (f"key file:\n{PEM_RSA}\nend", "key file:\n[REDACTED:private_key]\nend"),
    (f"{PEM_EC}\n", "[REDACTED:private_key]\n"),
    (PEM_OPENSSH, "[REDACTED:private_key]"),
    (PEM_PKCS8, "[REDACTED:private_key]"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0t\n(pasted only half)",
        "[REDACTED:private_key]\n(pasted only half)",
    ),
    (
        PUTTY,
        PUTTY.replace("AAAAIFh0cGNRkT2gUQ3mDnu0vOG8Zl5Zr4CkYlZkq5rP9pZx", "[REDACTED:private_key]"),
    ),
    (
        "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nAddress = 10.8.0.2/24",
        "[Interface]\nPrivateKey = [REDACTED:private_key]\nAddress = 10.8.0.2/24",
    ),
    # Source forges and SaaS tokens
    ("GITHUB_TOKEN=ghp_dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnF", "GITHUB_TOKEN=[REDACTED:github_token]"),
    ("gho_dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnF", "[REDACTED:github_token]"),
    ("ghu_dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnF", "[REDACTED:github_token]"),
    ("ghs_dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnF", "[REDACTED:github_token]"),
    ("ghr_dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnF", "[REDACTED:github_token]"),
    (
        "git clone https://github_pat_11ARIBXuDL7DxtpYlSXpfK_tHF4vUCsMehGAkWvj7FAc9QeWJKY40uvSwMFLZDe1f8rESQedU"
        "StPKR0CsT@github.com/org/repo",
        "git clone https://[REDACTED:github_token]@github.com/org/repo",
    ),
    ("CI_TOKEN glpat-y4Qwb8DwkNhFdnXsiVpz", "CI_TOKEN [REDACTED:gitlab_token]"),
    (
        "slack bot xoxb-2153628731-4856362749811-Yq2bYkQXCqzRYhTL2dUgpJmW",
        "slack bot [REDACTED:slack_token]",
    ),
    ("xoxp-2153628731-2153628732-4856362749811-abcdef", "[REDACTED:slack_token]"),
    ("xoxa-2-2153628731-abcdefabcdef", "[REDACTED:slack_token]"),
    ("xoxs-2153628731-abcdefabcdef", "[REDACTED:slack_token]"),
    ("SLACK_APP_TOKEN=xapp-1-A0123456789-1234567890123-abcdef", "SLACK_APP_TOKEN=[REDACTED:slack_token]"),
    ("xoxe.xoxp-1-Mi0yLTIxNTM2Mjg3MzEtNDg1NjM2Mjc0OTgxMQ", "[REDACTED:slack_token]"),
    (
        "POST https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdEFGHijklMNOPqrstUVWX failed",
        "POST https://hooks.slack.com/services/[REDACTED:webhook_url] failed",
    ),
    ("stripe sk_live_z63FfkCzJr4i0B3JrTAwR4y9", "stripe [REDACTED:stripe_key]"),
    ("rk_live_z63FfkCzJr4i0B3JrTAwR4y9", "[REDACTED:stripe_key]"),
    (
        "ANTHROPIC_API_KEY=sk-ant-api03-DtkwtDDb-xHKas1VOqg6YYZYn9ZhyiA4uoRgnatm",
        "ANTHROPIC_API_KEY=[REDACTED:anthropic_key]",
    ),
    ("key sk-proj-8xNbe3nNyjOq9wMxEhh2FDEEtfjgVvVqE1SkHbn88HxjSI6b", "key [REDACTED:openai_key]"),
    (
        "OPENAI_API_KEY=sk-WHtP3fS2qHx6kwXoIIXGvOoNZYW2mZp0zVZomHFwUbbYrEqm",
        "OPENAI_API_KEY=[REDACTED:openai_key]",
    ),
    (
        "SENDGRID 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",
        "SENDGRID [REDACTED:sendgrid_key]",
    ),
    ("twilio key SKe4fb440034d6608697a8d41bed440e50", "twilio key [REDACTED:twilio_api_key]"),
    (
        "TwilioClient(AC454f31af3176813e02ea68ef786e4d3c, ea27d26934b484e73cf575dcad6ba2b0)",
        "TwilioClient(AC454f31af3176813e02ea68ef786e4d3c, [REDACTED:twilio_auth_token])",
    ),
    (
        "//registry.npmjs.org/:_authToken=npm_vJDCTbyvHNsG9eh6Yo4gfqrc5XlrWi0B26R0",
        "//registry.npmjs.org/:_authToken=[REDACTED:npm_token]",
    ),
    (
        "password = pypi-AgEIcHlwaS5vcmcHZt_PlJhx2jIclHkCiHp6bR1IqfEouHgxzNNAL5wIScGebcy8F5n3_YNBDRz",
        "password = [REDACTED:pypi_token]",
    ),
    (
        "POST https://fn-prod.azurewebsites.net/api/Sync?name=x&code=aBcD123-xyz==&clientId=default 401",
        "POST https://fn-prod.azurewebsites.net/api/Sync?name=x&code=[REDACTED:azure_function_key]&clientId=default 401",
    ),
    # Chat webhooks
    (
        "https://outlook.office.com/webhook/9d0c-4a1b@72f9-88bf/IncomingWebhook/8f1e/6b2c returned 400",
        "https://outlook.office.com/webhook/[REDACTED:webhook_url] returned 400",
    ),
    (
        "https://contoso.webhook.office.com/webhookb2/9d0c-4a1b@72f9-88bf/IncomingWebhook/8f1e/6b2c",
        "https://contoso.webhook.office.com/webhookb2/[REDACTED:webhook_url]",
    ),
    (
        "https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOpQr",
        "https://discord.com/api/webhooks/[REDACTED:webhook_url]",
    ),
    # Credentials in URLs, any scheme
    ("postgres://app:s3cret@db:5432/x", "postgres://app:[REDACTED:password]@db:5432/x"),
    ("ftp://backup:Ftp!Pass@nas01/backups", "ftp://backup:[REDACTED:password]@nas01/backups"),
    (
        "mongodb+srv://admin:pa55word@cluster0.mongodb.net/db?retryWrites=true",
        "mongodb+srv://admin:[REDACTED:password]@cluster0.mongodb.net/db?retryWrites=true",
    ),
    ("redis://:r3disPass@cache01:6379/0", "redis://:[REDACTED:password]@cache01:6379/0"),
    ("amqp://guest:gu3st@rabbit:5672/", "amqp://guest:[REDACTED:password]@rabbit:5672/"),
    # Windows command lines
    (
        r"net use \\fs01\finance /user:CONTOSO\jdoe P@ssw0rd",
        r"net use \\fs01\finance /user:CONTOSO\jdoe [REDACTED:password]",
    ),
    (
        r"net use Z: \\fs01\finance P@ssw0rd /user:CONTOSO\jdoe /persistent:yes",
        r"net use Z: \\fs01\finance [REDACTED:password] /user:CONTOSO\jdoe /persistent:yes",
    ),
    ("net user svc_backup Backup#2024 /add", "net user svc_backup [REDACTED:password] /add"),
    (
        "cmdkey /add:fs01 /user:CONTOSO\\jdoe /pass:Cmd!Key9",
        "cmdkey /add:fs01 /user:CONTOSO\\jdoe /pass:[REDACTED:password]",
    ),
    (
        "$sec = ConvertTo-SecureString 'P@ss' -AsPlainText -Force",
        "$sec = ConvertTo-SecureString '[REDACTED:password]' -AsPlainText -Force",
    ),
    (
        "'Summer2024!' | ConvertTo-SecureString -AsPlainText -Force",
        "'[REDACTED:password]' | ConvertTo-SecureString -AsPlainText -Force",
    ),
    ("Set-LocalUser -Name kiosk -Password 'x'", "Set-LocalUser -Name kiosk -Password '[REDACTED:password]'"),
    (
        "psexec \\\\pc042 -u CONTOSO\\admin -p Adm1n! cmd",
        "psexec \\\\pc042 -u CONTOSO\\admin -p [REDACTED:password] cmd",
    ),
    # Wi-Fi
    ("wpa_passphrase=CorrectHorse42", "wpa_passphrase=[REDACTED:password]"),
    ('psk="CorrectHorse42"', 'psk="[REDACTED:password]"'),
    ("    Key Content            : Guest Wifi 2024", "    Key Content            : [REDACTED:wifi_key]"),
    (
        "netsh wlan set hostednetwork mode=allow ssid=Lobby key=Welcome123",
        "netsh wlan set hostednetwork mode=allow ssid=Lobby key=[REDACTED:wifi_key]",
    ),
    ("<keyMaterial>CorrectHorse42</keyMaterial>", "<keyMaterial>[REDACTED:wifi_key]</keyMaterial>"),
    # SNMP
    ("snmp: community=Publ1cRO version=2c", "snmp: community=[REDACTED:snmp_community] version=2c"),
    ("snmp-server community N3tw0rkRO RO 10", "snmp-server community [REDACTED:snmp_community] RO 10"),
    ("rocommunity N3tw0rkRO 10.0.0.0/8", "rocommunity [REDACTED:snmp_community] 10.0.0.0/8"),
    ("snmpwalk -v2c -c N3tw0rkRO 10.0.0.1", "snmpwalk -v2c -c [REDACTED:snmp_community] 10.0.0.1"),
    # Non-ASCII text before a secret keeps positions right (İ lower-cases to two characters)
    (
        "İstanbul ofisi İÇİN password=Zq8Lw2Xv9Rt tamam",
        "İstanbul ofisi İÇİN password=[REDACTED:password] tamam",
    ),
    # Windows keys
    ("Product Key: VK7JG-NPHTM-C97JM-9MPGT-3V66T", "Product Key: [REDACTED:windows_product_key]"),
    (
        "Password: 123456-234567-345678-456789-567890-678901-789012-890123",
        "Password: [REDACTED:bitlocker_recovery_key]",
    ),
    (
        "    Recovery Password:\n      419595-387156-445643-148819-217690-612357-223113-368302",
        "    Recovery Password:\n      [REDACTED:bitlocker_recovery_key]",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SECRET_CASES)
def test_masks_the_secret_and_keeps_the_text_around_it(text: str, expected: str) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.count >= 1
    assert result.kinds
    assert all(f"[REDACTED:{kind}]" in result.text for kind in result.kinds)


@pytest.mark.parametrize(("text", "expected"), SECRET_CASES)
def test_masking_again_changes_nothing(text: str, expected: str) -> None:
    once = redact(text).text
    assert redact(once) == Redaction(text=once, count=0, kinds=())


def test_repeated_commands_on_one_line_settle_in_one_call() -> None:
    line = r"net use \\fs01\finance /user:CONTOSO\jdoe P@ssw0rd" * 5 + " psexec -p a1 -p b2 -p c3"
    once = redact(line).text
    assert redact(once).text == once
    assert "a1" not in once


def test_counts_every_secret_and_lists_kinds_once_sorted() -> None:
    text = "password=a1b2c3 AKIAIOSFODNN7EXAMPLE and later password=z9y8x7\ntoken=tok123456"
    result = redact(text)
    assert result.count == 4
    assert result.kinds == ("aws_access_key", "password", "token")


@pytest.mark.parametrize(
    "text",
    [
        "the password expired",
        "reset the password for jdoe",
        "Password: ",
        "Password:\nNext line",
        "token expired at 10:32",
        "password policy requires 12 characters",
        "User must change password at next logon",
        "PasswordLastSet      : 3/4/2024 10:00:00 AM",
        "PasswordNeverExpires : False",
        "MinimumPasswordLength = 12",
        "password: none",
        'token_type="Bearer", expires_in=3599',
        "Bearer authentication failed",
        "Basic authentication is disabled for this tenant",
        "Event ID: 4625  An account failed to log on. Failure Reason: Unknown user name or bad password.",
        "Event ID 7000: The Print Spooler service failed to start",
        "Device {6F9619FF-8B86-D011-B42D-00C04FC964FF} installed",
        r"C:\Users\jdoe\AppData\Local\Microsoft\Outlook\jdoe@contoso.com.ost",
        "/var/log/nginx/error.log",
        "MAC 00:1A:2B:3C:4D:5E got 10.0.0.42 from 10.0.0.1",
        "IPv6 fe80::1c2b:3aff:fe4d:5e6f%12",
        "Install KB5034441 failed with 0x80070643",
        "Access is denied. (0x80070005)",
        "HRESULT: 0x8004010F",
        "https://portal.azure.com/#view/Microsoft_AAD_IAM/ActiveDirectoryMenuBlade",
        "http://printsrv01:631/printers/HP-4th-Floor",
        "2024-03-01 10:32:11,123 ERROR [worker-3] Connection refused api.internal:8443",
        "PWD=/home/jdoe",
        "secrets: []",
        "max_tokens=1024 tokens=512",
        'netsh wlan show profile name="Contoso Guest" key=clear',
        "    Security key           : Present",
        "    Authentication         : WPA2-Personal",
        "BitLocker Drive Encryption: Numerical Password ID: {A1B2C3D4-E5F6-4A5B-8C9D-0E1F2A3B4C5D}",
    ],
)
def test_leaves_ordinary_troubleshooting_text_alone(text: str) -> None:
    assert redact(text) == Redaction(text=text, count=0, kinds=())


def test_masks_secrets_in_a_realistic_pasted_config() -> None:
    config = """\
# appsettings.Production.json (pasted by engineer)
{
  "ConnectionStrings": {
    "Default": "Server=sql01;Database=crm;User Id=crm_app;Password=Cr#m2024!;TrustServerCertificate=true"
  },
  "AzureAd": { "TenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "ClientSecret": "Qx7~fake-secret-value" },
  "Smtp": { "Host": "smtp.office365.com", "Port": 587, "Password": "M@il2024" }
}"""
    result = redact(config)
    for secret in ("Cr#m2024!", "Qx7~fake-secret-value", "M@il2024"):
        assert secret not in result.text
    assert "72f988bf-86f1-41af-91ab-2d7cd011db47" in result.text
    assert '"Host": "smtp.office365.com", "Port": 587' in result.text
    assert result.kinds == ("client_secret", "password")


PLANTED = [
    ("password=Zq8Lw2Xv9Rt", "Zq8Lw2Xv9Rt"),
    ('"password": "Zq8Lw 2Xv9Rt"', "Zq8Lw 2Xv9Rt"),
    ("AKIAQZ8LW2XV9RTKMP3N", "AKIAQZ8LW2XV9RTKMP3N"),
    ("ghp_Zq8Lw2Xv9RtZq8Lw2Xv9RtZq8Lw2Xv9RtABC", "ghp_Zq8Lw2Xv9RtZq8Lw2Xv9RtZq8Lw2Xv9RtABC"),
    ("sk-ant-api03-Zq8Lw2Xv9RtZq8Lw2Xv9Rt", "Zq8Lw2Xv9RtZq8Lw2Xv9Rt"),
    ("https://svc:Zq8Lw2Xv9Rt@host/x", "Zq8Lw2Xv9Rt"),
    ("Authorization: Bearer Zq8Lw2Xv9RtZq8Lw2Xv9Rt", "Zq8Lw2Xv9RtZq8Lw2Xv9Rt"),
    ("Server=s;Password=Zq8Lw 2Xv9Rt;", "Zq8Lw 2Xv9Rt"),
    (PEM_RSA, "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ6cSJ9.Zq8Lw2Xv9RtZq8Lw2Xv9Rt", "Zq8Lw2Xv9RtZq8Lw2Xv9Rt"),
]
# Fragments that tend to interact: key names, separators, quotes, partial markers.
FRAGMENTS = st.sampled_from(
    [
        "password",
        "token",
        "secret",
        "=",
        ": ",
        '"',
        "'",
        " ",
        "\n",
        ";",
        "@",
        "://",
        "[REDACTED:",
        "]",
        "AKIA",
        "Q~",
        "-",
        "12345",
        "ABCDE",
        "Authorization: Bearer ",
        "net use \\\\s\\x ",
        "Key Content : ",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "https://u:p@h/",
        "hunter2",
        "\u0130",
        "Cookie: ESTSAUTH=",
        "enable secret 5 ",
        "\n password 7 ",
        "sqlcmd -U sa -P ",
        "echo x | sudo -S ",
        "$6$salt$",
        ":500:",
        ":::",
        "APP_KEY=",
        "DD_API_KEY ",
        "the password is ",
        "Passwort: ",
        "N'",
        "AKIAIOSFODNN7EXAMPLE,",
        "snmp-server user u g v3 auth sha ",
    ]
)
MIXED = st.lists(FRAGMENTS | st.text(max_size=8), max_size=25).map("".join)


@given(st.text())
@settings(max_examples=300)
def test_never_crashes_on_arbitrary_unicode(text: str) -> None:
    result = redact(text)
    assert isinstance(result.text, str)
    assert result.count >= 0
    assert list(result.kinds) == sorted(set(result.kinds))


@given(st.text() | MIXED)
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_is_idempotent(text: str) -> None:
    once = redact(text).text
    assert redact(once).text == once


@given(prefix=st.text() | MIXED, suffix=st.text() | MIXED, planted=st.sampled_from(PLANTED))
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_a_planted_secret_never_survives(prefix: str, suffix: str, planted: tuple[str, str]) -> None:
    text, secret = planted
    assert secret not in redact(f"{prefix}\n{text}\n{suffix}").text


# ── The catalogue of secrets an MSP engineer pastes (tests/reliability/secret_catalogue.py) ────────────
@pytest.mark.parametrize("sample", CATALOGUE, ids=[f"{s.family}: {s.text[:60]}" for s in CATALOGUE])
def test_masks_every_format_in_the_catalogue_and_keeps_the_words_around_it(sample: Sample) -> None:
    result = redact(sample.text)
    assert as_masked(result.text) == sample.expected
    assert not [secret for secret in sample.secrets if secret in result.text]
    assert redact(result.text) == Redaction(text=result.text, count=0, kinds=())


def test_the_catalogue_covers_every_family_the_issue_names() -> None:
    assert len(CATALOGUE) >= 250
    assert all(sum(s.family == family for s in CATALOGUE) >= 4 for family in FAMILIES)


def test_ordinary_logs_pass_unchanged_line_by_line_and_whole() -> None:
    lines = corpus_lines()
    assert len(lines) >= 600
    assert [line for line in lines if redact(line).text != line] == []
    whole = "\n".join(lines)
    assert redact(whole) == Redaction(text=whole, count=0, kinds=())


# Inputs that would take minutes with a pattern that backtracks (nested or overlapping repetitions): each
# must come back in one piece. Keeping every pattern linear is by construction; this only proves it.
PATHOLOGICAL = [
    "a_" * 30_000 + " key",
    ("x_api_key " + "1" * 8 + " ") * 5_000,
    "Cookie: " + "a" * 60_000,
    "Cookie: " + "sess" * 15_000,
    "Set-Cookie: " + "a=b;" * 15_000,
    "$1$" * 20_000,
    "$1$" + "." * 60_000,
    "echo " + "a" * 60_000,
    "echo a | " * 7_000,
    "password is " * 5_000,
    "password is x" + "." * 60_000,
    ("password for " + "x" * 60) * 800,
    "\n".join(["password " + "a1" * 20] * 3_000),
    "\n key 7 " * 8_000,
    ":" * 60_000,
    "::" + ":" * 60_000,
    ("a" * 32 + ":") * 1_800,
    "AKIA" + "A" * 60_000,
    "a,b,c\n" * 10_000,
    "sqlcmd " + "-P " * 20_000,
    "snmpwalk" + " -A" * 20_000,
    "WIFI:" + "p:" * 30_000,
    "creds: " + "a" * 60_000,
    "M" * 60_000,
    ("M" * 25 + ".") * 2_400,
    "1" * 60_000 + ":AA",
    "ENV " + "A_KEY" * 12_000,
    "A_" * 30_000 + "KEY=1",
    "ConvertTo-SecureString" + " -Force" * 10_000,
    "htpasswd -b " + "x " * 30_000,
    "msLAPS-Password " + "x" * 60_000,
    "enable secret " + "7 " * 30_000,
    "username " + "a " * 30_000,
    "radius-server " + "key " * 15_000,
    " : PSK " * 10_000,
    "https://" + "a:" * 30_000,
    "* NTLM : " * 7_000,
]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=[repr(t[:24]) for t in PATHOLOGICAL])
def test_a_pathological_paste_is_masked_in_one_pass_over_it(text: str) -> None:
    result = redact(text)
    assert redact(result.text).text == result.text


def test_a_200_kb_ordinary_log_comes_back_unchanged() -> None:
    lines = corpus_lines()
    log = "\n".join(lines * (200_000 // sum(len(line) + 1 for line in lines) + 1))
    assert len(log) >= 200_000
    assert redact(log).text == log
