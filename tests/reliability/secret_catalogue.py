"""Secrets an MSP engineer pastes, by family, each with the secret marked: `⟦…⟧` around what must be masked.

Every value below is made up. A sample is masked when the redacted text equals the sample with each marked
part replaced by one `[REDACTED:<kind>]` mark: the secret is gone and every word around it is still there.

`python -m tests.reliability.secret_catalogue` prints the table kept in tests/reliability/README.md.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.redaction import Redaction

OPEN, CLOSE = "⟦", "⟧"
_MARKED = re.compile(f"{OPEN}(.*?){CLOSE}", re.S)
_MASK = re.compile(r"\[REDACTED:[a-z_]+\]")
CORPUS_PATH = Path(__file__).with_name("ordinary_logs.txt")


@dataclass(frozen=True)
class Sample:
    family: str
    marked: str

    @property
    def text(self) -> str:
        """What the engineer pastes."""
        return self.marked.replace(OPEN, "").replace(CLOSE, "")

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(_MARKED.findall(self.marked))

    @property
    def expected(self) -> str:
        """The paste as it must look once masked, every mark written `[REDACTED]`."""
        return _MARKED.sub("[REDACTED]", self.marked)


def as_masked(text: str) -> str:
    """`text` with every mark's kind dropped, to compare with `Sample.expected`."""
    return _MASK.sub("[REDACTED]", text)


_FAMILIES: dict[str, list[str]] = {
    "Cisco IOS / ASA / NX-OS": [
        "username admin privilege 15 password 0 ⟦Cisco123!⟧",
        "username admin privilege 15 password 7 ⟦094F471A1A0A⟧",
        "username netops privilege 15 secret 5 ⟦$1$mERr$hx5rVt7rPNoS4wqbXKX7m0⟧",
        "username netops secret 9 ⟦$9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM⟧",
        "enable secret 5 ⟦$1$pdQG$o8nrSzsGXeaduXrjlvKc91⟧",
        "enable secret 8 ⟦$8$dsYGNam3K1SIJO$7nv/35M/qr6t.dVc7UY9zrJDWRVqncHub1PE9UlMQFs⟧",
        "enable password ⟦Enable2024⟧",
        "line vty 0 4\n password 7 ⟦0822455D0A16⟧\n login",
        "line con 0\n password ⟦C0ns0le!⟧",
        "key chain OSPF\n key 1\n  key-string 7 ⟦045802150C2E⟧",
        " ip ospf message-digest-key 1 md5 ⟦0spfK3y!⟧",
        " ip ospf authentication-key 7 ⟦070C285F4D06⟧",
        " neighbor 10.0.0.2 password 7 ⟦02050D480809⟧",
        " standby 1 authentication md5 key-string ⟦Hsrp2024⟧",
        "ntp authentication-key 1 md5 ⟦121A0C041104⟧ 7",
        "ppp chap password 0 ⟦ChapPa55⟧",
        "enable password ⟦8Ry2YjIyt7RRXU24⟧ encrypted",
        "username admin password ⟦EoC.gbJPOp1KuEas⟧ encrypted privilege 15",
        "passwd ⟦2KFQnbNIdI.2KYOU⟧ encrypted",
        "feature-set\nusername admin password 5 ⟦$5$Kbb1JlHX$mVazIcSn3kNbKsmsbHBb0BYxvqPU27RZ3uOkOsxfS0D⟧ role network-admin",
    ],
    "Juniper / Fortinet / MikroTik / pfSense / Palo Alto": [
        'set system root-authentication encrypted-password "⟦$6$Cy3mB0qR$YbH0tD3uZp8Jx5VnGq7LwR2sE9kF4aM1cT6oU8iN0yS3dW5zX7vB2gH4jK6lP9⟧"',
        'set security ike policy IKE-POL pre-shared-key ascii-text "⟦$9$dkVgJHk.fT3ApB1hSyeKM8X⟧"',
        '    authentication-key "⟦$9$Z0Dk.5Q3n9pBIRhcyKMWLxdw⟧"; ## SECRET-DATA',
        "    set password ENC ⟦SH2nP8rdgGGCZ0L7m9xHIQn9DNZNzHhWNYv1bYDrwsPLs2R0yAvbhj9ZUf60Kk=⟧",
        "    set psksecret ENC ⟦yO6v1mRmbH4zX0q7Jw2sL9cTfB3nK8pA5dE1gU7iY4oW0hN6rQ2tZ9xV3kM8jF5⟧",
        "    set psksecret ⟦Tunn3l-PSK-2024⟧",
        "    set passwd ⟦Fort1Adm1n!⟧",
        "/user add name=backup group=full password=⟦M1kr0t1k!⟧",
        "/interface wireless security-profiles set [ find default=yes ] wpa2-pre-shared-key=⟦Office-WiFi-77⟧",
        "/ip ipsec peer add address=203.0.113.5 secret=⟦IpsecS3cret⟧ exchange-mode=ike2",
        "/ppp secret add name=vpnuser password=⟦PppS3cret!⟧ profile=default-encryption",
        "<bcrypt-hash>⟦$2y$10$sQ6EJ0Mqo1Y9F0Y1dFgGxOB7u8XQ9iR1Q0fL4gT3h2jK5lM6nO7pq⟧</bcrypt-hash>",
        "<pre-shared-key>⟦PfS3nse-Psk⟧</pre-shared-key>",
        "set mgt-config users admin phash ⟦$1$vjzgvxwe$9s2A0VnYlPQhx6rB0wZ5c.⟧",
    ],
    "SNMP communities and v3 keys": [
        "snmp-server community ⟦N3tw0rkRO⟧ RO 10",
        "snmp-server community ⟦Rw-Secret9⟧ RW",
        "snmp-server host 10.0.0.5 version 2c ⟦TrapC0mm⟧",
        "snmp-server host 10.0.0.5 traps version 2c ⟦TrapC0mm2⟧ udp-port 162",
        "snmp-server user monitor NMS v3 auth sha ⟦AuthPa55⟧ priv aes 128 ⟦PrivPa55⟧",
        "set snmp community ⟦JunosRO7⟧ authorization read-only",
        "com2sec readonly  default         ⟦L1nuxRO⟧",
        "rocommunity ⟦N3tw0rkRO⟧ 10.0.0.0/8",
        'createUser bob SHA "⟦authpassphrase1⟧" AES "⟦privpassphrase1⟧"',
        "snmpwalk -v3 -l authPriv -u bob -a SHA -A ⟦authpassphrase1⟧ -x AES -X ⟦privpassphrase1⟧ 10.0.0.1",
        "snmpwalk -v2c -c ⟦N3tw0rkRO⟧ 10.0.0.1",
    ],
    "RADIUS / TACACS+ shared secrets": [
        "radius-server key ⟦R4diusK3y⟧",
        "radius-server host 10.1.1.5 auth-port 1812 acct-port 1813 key 7 ⟦0822455D0A16⟧",
        "radius server NPS01\n address ipv4 10.1.1.5 auth-port 1812 acct-port 1813\n key ⟦Rad1us-Shared!⟧",
        "tacacs-server host 10.1.1.6 key ⟦T4cacs!⟧",
        "tacacs-server key 7 ⟦13061E010803⟧",
        "aaa-server RAD (inside) host 10.1.1.5\n key ⟦AsaRad1us⟧",
        "client 10.0.0.0/24 {\n    secret = ⟦testing123⟧\n    shortname = office\n}",
        "netsh nps add client name=AP01 address=10.0.0.21 sharedsecret=⟦Np5Shared!⟧ state=enable",
        "    set secret ENC ⟦pL0n2RqT8vXy4ZbC6dEf1GhJ3kMn5PqR7sTu9VwX0yZa2Bc4De6Fg8Hi==⟧",
    ],
    "IPsec / IKE pre-shared keys": [
        "crypto isakmp key ⟦Ik3Secr3t⟧ address 203.0.113.5",
        "crypto isakmp key 6 ⟦RHZE[JACMUI\\bcbTdELISAAB⟧ address 0.0.0.0",
        "tunnel-group 203.0.113.5 ipsec-attributes\n ikev1 pre-shared-key ⟦Tunn3lPSK!⟧",
        " ikev2 remote-authentication pre-shared-key ⟦Rem0teIKE2⟧",
        " ikev2 local-authentication pre-shared-key ⟦L0calIKE2⟧",
        "crypto ikev2 keyring KR\n peer AWS\n  address 52.1.2.3\n  pre-shared-key ⟦Aws-Tunnel-1-Key⟧",
        '203.0.113.5 198.51.100.7 : PSK "⟦StrongSwanPsk1⟧"',
        "New-AzVirtualNetworkGatewayConnection -Name s2s -ResourceGroupName rg -SharedKey '⟦AzureS2S-Key9⟧'",
        "az network vpn-connection create -n s2s -g rg --vnet-gateway1 gw --shared-key ⟦AzureS2S-Key9⟧",
        "pre_shared_key = ⟦Wg0rIpsecPsk⟧",
    ],
    "Wi-Fi PSKs": [
        "wpa_passphrase=⟦CorrectHorse42⟧",
        "wpa_psk=⟦8d2b0c3e5f7a9b1c2d4e6f8a0b1c3d5e7f9a1b2c3d4e5f6a7b8c9d0e1f2a3b4c⟧",
        'psk="⟦CorrectHorse42⟧"',
        "    Key Content            : ⟦Guest Wifi 2024⟧",
        "netsh wlan set hostednetwork mode=allow ssid=Lobby key=⟦Welcome123⟧",
        "<keyMaterial>⟦CorrectHorse42⟧</keyMaterial>",
        "nmcli dev wifi connect OfficeNet password ⟦W1f1-Office!⟧",
        "WIFI:S:OfficeNet;T:WPA;P:⟦W1f1-Office!⟧;;",
        " wpa-psk ascii 0 ⟦CiscoAP-Psk1⟧",
        "config wlan security wpa akm psk set-key ascii ⟦WlcPsk-2024⟧ 3",
        "wpa-passphrase ⟦ArubaPsk!9⟧",
    ],
    "BitLocker and Windows keys": [
        "Password: ⟦123456-234567-345678-456789-567890-678901-789012-890123⟧",
        "    Recovery Password:\n      ⟦419595-387156-445643-148819-217690-612357-223113-368302⟧",
        "manage-bde -unlock E: -RecoveryPassword ⟦419595-387156-445643-148819-217690-612357-223113-368302⟧",
        "Recovery key: ⟦419595-387156-445643-148819-217690-612357-223113-368302⟧",
        "Product Key: ⟦VK7JG-NPHTM-C97JM-9MPGT-3V66T⟧",
    ],
    "RDP and remote-access files": [
        "full address:s:ts01.contoso.local\nusername:s:CONTOSO\\jdoe\npassword ⟦51:b:01000000D08C9DDF0115D1118C7A00C04FC297EB0100000052A9E191EA75A948B359790578C9371A⟧",
        "<password>⟦AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAAUqnhkep1qUizWXkFeMk3Gg==⟧</password>",
        'Password="⟦mRemoteNG-Enc0ded==⟧" Hostname="srv01"',
        "xfreerdp /v:ts01.contoso.local /u:jdoe /p:⟦Rdp-Pa55!⟧ /cert:ignore",
        "plink -ssh admin@10.0.0.1 -pw ⟦Pl1nkPw!⟧",
        'winscp.com /command "open sftp://deploy:⟦Scp-Pa55⟧@files.contoso.com/"',
    ],
    "Database connection strings": [
        "Server=tcp:sql01,1433;Database=Billing;User Id=sa;Password=⟦P@ss w0rd!⟧;Encrypt=True",
        "Data Source=sql01;Initial Catalog=app;Uid=app;Pwd=⟦Xk29!pq⟧;",
        "Driver={ODBC Driver 18 for SQL Server};Server=sql01;UID=sa;PWD={⟦Od;bc!Pw⟧};",
        "DSN=Sage50;UID=manager;PWD=⟦Sage!2024⟧",
        "jdbc:sqlserver://sql01:1433;databaseName=crm;user=crm;password=⟦Jdbc-Pw1⟧;",
        "jdbc:mysql://db01:3306/shop?user=shop&password=⟦MyShop!9⟧&useSSL=true",
        "mysql://root:⟦R00tPw!⟧@db01:3306/shop",
        "postgresql://app:⟦s3cret-Pg⟧@pg01.contoso.local:5432/app?sslmode=require",
        'psql "host=pg01 port=5432 dbname=app user=app password=⟦PgPa55!⟧ sslmode=require"',
        "PGPASSWORD=⟦PgPa55!⟧ pg_dump -h pg01 -U app app > app.sql",
        "mongodb+srv://admin:⟦pa55word⟧@cluster0.mongodb.net/db?retryWrites=true",
        "redis://:⟦r3disPass⟧@cache01:6379/0",
        "rediss://default:⟦Upst4sh-Redis⟧@eu1-cache.upstash.io:6379",
        "amqp://guest:⟦gu3st⟧@rabbit:5672/",
        "sqlplus system/⟦Oracle123⟧@//ora01:1521/ORCLPDB1",
        "expdp system/⟦Exp0rt!⟧@ORCL directory=DATA_PUMP_DIR dumpfile=full.dmp",
        "jdbc:oracle:thin:scott/⟦T1ger!⟧@ora01:1521:ORCL",
        "User Id=APPUSER;Password=⟦Ora-App1⟧;Data Source=ora01:1521/ORCLPDB1",
        "CREATE LOGIN app WITH PASSWORD = N'⟦L0gin-Pw!⟧', CHECK_POLICY = OFF;",
        "ALTER USER app WITH PASSWORD '⟦PgAlter1!⟧';",
        "CREATE USER 'shop'@'%' IDENTIFIED BY '⟦MyShop!9⟧';",
        "CREATE USER app IDENTIFIED BY ⟦Tiger123⟧;",
        "redis-cli -h cache01 -a ⟦r3disPass⟧ ping",
        "requirepass ⟦R3dis-Conf-Pw⟧",
        "mysqladmin -u root password '⟦NewR00t!⟧'",
    ],
    "Kubernetes and container registries": [
        "    client-key-data: ⟦LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFcEFJQkFBS0NBUUVBd3pKZ0Z3⟧",
        "    token: ⟦kubeconfig-token-7f3a9c1e2b4d⟧",
        "        access-token: ⟦ya29.a0AfH6SMBx3kLmNoPqRsTuVwXyZ0123456789⟧",
        "  password: ⟦c3VwZXJzZWNyZXQ=⟧",
        "  .dockerconfigjson: ⟦eyJhdXRocyI6eyJyZWdpc3RyeS5jb250b3NvLmNvbSI6eyJhdXRoIjoiZEdWemREcDBaWE4w⟧",
        '      "auth": "⟦ZGVwbG95OkRvY2tlckh1YjIwMjQh⟧"',
        "kubectl create secret generic db --from-literal=password=⟦K8sDbPw!⟧",
        "kubectl create secret docker-registry regcred --docker-server=ghcr.io --docker-username=ci --docker-password=⟦RegPa55!⟧",
        "docker login -u ci -p ⟦D0ckerPa55⟧ registry.contoso.com",
        "podman login --username ci --password ⟦P0dmanPa55⟧ quay.io",
        "helm repo add internal https://charts.contoso.com --username ci --password ⟦HelmPa55⟧",
    ],
    ".env and config files": [
        "DB_PASSWORD=⟦Sup3rS3cret⟧",
        "JWT_SECRET=⟦9f8e7d6c5b4a39281706f5e4d3c2b1a0⟧",
        "APP_KEY=⟦base64:2fl+Ktvkfl+Fuz4Qp/A75G2RTiWVA/ZoKZvp6fiiM10=⟧",
        "ENCRYPTION_KEY=⟦k3y-for-aes-256-gcm⟧",
        "SMTP_PASS=⟦M@il2024⟧",
        "MAILGUN_API_KEY=⟦key-3ax6xnjp29jd6fds4gc373sgvjxteol0⟧",
        "AZURE_DEVOPS_PAT=⟦4xgqzh5ldjcnfqlhp7ybe2vmutwr3dhx4ck6tnyzkq2bzlqw5yia⟧",
        "ENV POSTGRES_PASSWORD ⟦example⟧",
        "export VAULT_TOKEN=⟦s.8pD4qGm2xR7vZ1kL9wN3bY5c⟧",
        "[client]\nuser=root\npassword=⟦MyCnf!Pw⟧",
        "spring.datasource.password=⟦Spr1ngPw⟧",
        '"SmtpPassword": "⟦M@il2024⟧",',
        "define('AUTH_KEY', '⟦t`DK%X:>xy|e-Z(BXb/f5Ur`8#~}⟧');",
    ],
    "PowerShell credentials": [
        "$sec = ConvertTo-SecureString '⟦P@ss1⟧' -AsPlainText -Force",
        "$sec = ConvertTo-SecureString -String '⟦P@ss2⟧' -AsPlainText -Force",
        '$sec = ConvertTo-SecureString -AsPlainText -Force -String "⟦P@ss3⟧"',
        "$sec = ConvertTo-SecureString -AsPlainText '⟦P@ss4⟧' -Force",
        'Set-ADAccountPassword jdoe -Reset -NewPassword (ConvertTo-SecureString -AsPlainText "⟦Welcome2024!⟧" -Force)',
        "'⟦Summer2024!⟧' | ConvertTo-SecureString -AsPlainText -Force",
        "$cred = New-Object System.Management.Automation.PSCredential('CONTOSO\\svc', (ConvertTo-SecureString '⟦Svc-Pa55⟧' -AsPlainText -Force))",
        "$nc = New-Object System.Net.NetworkCredential('svc', '⟦Net-Cred1⟧')",
        'var cred = new NetworkCredential("svc", "⟦Net-Cred2⟧", "CONTOSO");',
        "Set-LocalUser -Name kiosk -Password '⟦K1osk!⟧'",
        "$password = '⟦Winter2024!⟧'",
        "Invoke-Sqlcmd -ServerInstance sql01 -Username sa -Password ⟦SqlPw!9⟧ -Query 'select 1'",
    ],
    "Entra ID / Azure": [
        "Client secret value: ⟦Wq38Q~kZp4vR7mT2xN9bL1cH6dF3sG0aJ5eU8iOy⟧",
        "AZURE_CLIENT_SECRET=⟦Wq38Q~kZp4vR7mT2xN9bL1cH6dF3sG0aJ5eU8iOy⟧",
        '{"secretText": "⟦Wq38Q~kZp4vR7mT2xN9bL1cH6dF3sG0aJ5eU8iOy⟧", "keyId": "6f1e7d2a-1b3c-4d5e-8f9a-0b1c2d3e4f5a"}',
        "Connect-MgGraph -TenantId contoso.onmicrosoft.com -ClientSecretCredential $cred # secret ⟦Ab18Q~Tt2yUu3iIo4pPa5sSd6fFg7hHj8kKl9zZx⟧",
        "az login --service-principal -u 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b -p ⟦Ab18Q~Tt2yUu3iIo4pPa5sSd6fFg7hHj8kKl9zZx⟧ --tenant contoso.onmicrosoft.com",
        "az login -u admin@contoso.com -p ⟦Adm1n-Az!⟧",
        "DefaultEndpointsProtocol=https;AccountName=stprod01;AccountKey=⟦Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==⟧;EndpointSuffix=core.windows.net",
        "https://stprod01.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&sp=r&sig=⟦abcDEF123%2Bxyz%3D⟧",
        "AccountEndpoint=https://cosmos01.documents.azure.com:443/;AccountKey=⟦C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==⟧;",
        "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=⟦AbCdEf123+/GhIjKl456=⟧",
    ],
    "Password hashes (NTLM, shadow, crypt, Kerberos)": [
        "Administrator:500:⟦aad3b435b51404eeaad3b435b51404ee:31d6cfe0d16ae931b73c59d7e0c089c0⟧:::",
        "CONTOSO.LOCAL\\svc_sql:1104:⟦aad3b435b51404eeaad3b435b51404ee:64f12cddaa88057e06a81b54e73b949b⟧:::",
        "         * NTLM     : ⟦64f12cddaa88057e06a81b54e73b949b⟧",
        "         * SHA1     : ⟦cba4e545b7ec918129725154b29f055e4cd5aea8⟧",
        "jdoe::CONTOSO:1122334455667788:⟦0f3b1c9d8e7a6b5c4d3e2f1a0b9c8d7e:0101000000000000c0653150de09d201a1b2c3d4e5f6a7b80000000002000800530048004f005700⟧",
        "root:⟦$6$xyzsalt$rW1zQ9h3Jm0bFvP2sT8uY5kLdN4cA7eG1iO6pX3wZ9qB2nM5vC8jH0fK4lR7tU1yE6aS3dW9gI2oP5xV8bN⟧:19800:0:99999:7:::",
        "jdoe:⟦$y$j9T$F5Jx5fExrKuJdkbBqTk7T.$yJ5uK0bM6hBsE5a9qZ2lF3cN8dV4gW7pR1tX0yL9.H6⟧:19801:0:99999:7:::",
        "admin:⟦$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/⟧",
        "⟦$krb5tgs$23$*svc_sql$CONTOSO.LOCAL$MSSQLSvc/sql01.contoso.local:1433*$a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6$0f1e2d3c4b5a69788796a5b4c3d2e1f0⟧",
        "⟦$krb5asrep$23$jdoe@CONTOSO.LOCAL:a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6$0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2⟧",
        "       aes256_hmac       ⟦b4c1a9f0e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1⟧",
    ],
    "LAPS": [
        "ms-Mcs-AdmPwd                  : ⟦7kT!q9Zp2#vL⟧",
        "ms-Mcs-AdmPwd: ⟦7kT!q9Zp2#vL⟧",
        'msLAPS-Password : {"n":"Administrator","t":"1da5c4c0e2a1b2c","p":"⟦9Vx!m2Qr#8Lp⟧"}',
        "ComputerName        : PC042\nAccount             : Administrator\nPassword            : ⟦9Vx!m2Qr#8Lp⟧\nPasswordUpdateTime  : 3/4/2026 10:00:00 AM",
    ],
    "Session cookies": [
        "Cookie: ESTSAUTHPERSISTENT=⟦0.AXkA3sY7bD9fK2mQ8xL1pR4vT6wZ0cH5jN7gU2iE8aS4dF6oB1yM3nV5kX7qW9tC⟧; ESTSAUTH=⟦1.AXkAb2Cd4Ef6Gh8Ij0Kl2Mn4Op6Qr8St0⟧",
        "Set-Cookie: ESTSAUTHPERSISTENT=⟦0.AXkA3sY7bD9fK2mQ8xL1pR4vT6wZ0cH5jN7gU2iE8aS4dF6oB1yM3nV5kX7qW9tC⟧; domain=.login.microsoftonline.com; path=/; secure; HttpOnly; SameSite=None",
        "Cookie: .AspNetCore.Cookies=⟦CfDJ8Nq3Xv9zYpL2kR5tW8bM1cF4hJ7gD0sA3eU6iO9yTqZ2xV5nB8mK1lP4oR7wE0⟧; .AspNetCore.Culture=c%3Den-US",
        "Cookie: ASP.NET_SessionId=⟦k2wbt5ns1gtxg0bq3ys0rbmw⟧; lang=en",
        "Cookie: JSESSIONID=⟦A1B2C3D4E5F60718293A4B5C6D7E8F90⟧",
        "Cookie: PHPSESSID=⟦9lq2k3jd8fh7g6s5a4p3o2i1u0⟧",
        "Cookie: FedAuth=⟦77u/PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0idXRmLTgiPz48U1A+VjEzLDBoLmZ8bWVtYmVyc2hpcA==⟧; rtFa=⟦2Fb0k9Lm3Np7Qr1St5Uv9Wx3Yz7Ab1Cd5Ef9Gh3Ij7KlIAAAA⟧",
        "Cookie: MSISAuth=⟦PHNhbWw6QXNzZXJ0aW9uIElEPSJfYjE0MmFiYzMtZmRlNC00Y2Q5⟧",
        "Cookie: connect.sid=⟦s%3AmX2k9Qp4Lr7Tz1Vb8Nw3.Yp6Hc0JsF5dG8hK2⟧; theme=dark",
        "Set-Cookie: session=⟦eyJfcGVybWFuZW50Ijp0cnVlLCJ1c2VyX2lkIjo0Mn0.ZmQ3kA.Xx9Lp2Qr7Tz1Vb8Nw3Yp6Hc0Js⟧; HttpOnly; Path=/",
    ],
    "CLI password flags": [
        'sqlcmd -S sql01 -U sa -P ⟦SqlPa55!⟧ -Q "select @@version"',
        "bcp dbo.Orders out orders.dat -S sql01 -U sa -P ⟦BcpPa55!⟧ -c",
        "mysql -u root -p⟦R00tPw!⟧ shop",
        "mysqldump -uroot -p⟦R00tPw!⟧ --all-databases > all.sql",
        "smbclient //fs01/finance -U jdoe%⟦Smb-Pa55⟧",
        "smbclient -L fs01 -U 'CONTOSO\\jdoe%⟦Smb-Pa55⟧'",
        "rpcclient -U admin%⟦Rpc-Pa55⟧ 10.0.0.10",
        "mount -t cifs //fs01/share /mnt/share -o username=jdoe,password=⟦Cifs-Pa55⟧,vers=3.0",
        "echo ⟦SudoPa55!⟧ | sudo -S apt-get update",
        "echo '⟦SudoPa55!⟧' | sudo -S -k systemctl restart nginx",
        "echo 'jdoe:⟦NewPa55!⟧' | chpasswd",
        "echo ⟦NewPa55!⟧ | passwd --stdin jdoe",
        "sshpass -p ⟦SshPa55!⟧ ssh admin@10.0.0.1",
        "curl -u admin:⟦Sekr1t⟧ https://nas01/api",
        "curl --user admin:⟦Sekr1t2⟧ https://nas01/api",
        r"net use \\fs01\finance /user:CONTOSO\jdoe ⟦P@ssw0rd⟧",
        r"net use Z: \\fs01\finance ⟦P@ssw0rd⟧ /user:CONTOSO\jdoe /persistent:yes",
        "net user svc_backup ⟦Backup#2024⟧ /add",
        "cmdkey /add:fs01 /user:CONTOSO\\jdoe /pass:⟦Cmd!Key9⟧",
        "psexec \\\\pc042 -u CONTOSO\\admin -p ⟦Adm1n!⟧ cmd",
        "wmic /node:pc042 /user:CONTOSO\\admin /password:⟦Wm1c!Pw⟧ os get caption",
        "schtasks /create /tn Backup /tr backup.cmd /sc daily /ru CONTOSO\\svc /rp ⟦Sch3d!Pw⟧",
        'ldapsearch -x -H ldap://dc01 -D "cn=admin,dc=contoso,dc=local" -w ⟦Ld4p!Pw⟧ -b "dc=contoso,dc=local"',
        "openssl pkcs12 -export -in cert.pem -inkey key.pem -out cert.pfx -passout pass:⟦Pfx-Pa55⟧",
        "7z a -p⟦Z1p-Pa55⟧ -mhe=on backup.7z C:\\Data",
        "keytool -importkeystore -srckeystore a.p12 -srcstorepass ⟦Src-Pa55⟧ -deststorepass ⟦Dst-Pa55⟧",
        "ssh-keygen -p -f id_rsa -P ⟦0ldPhrase⟧ -N ⟦N3wPhrase⟧",
        "htpasswd -b /etc/nginx/.htpasswd admin ⟦Htp-Pa55⟧",
        "wget --http-user=deploy --http-password ⟦Wg3t-Pa55⟧ https://files.contoso.com/a.zip",
        "evil-winrm -i 10.0.0.10 -u administrator -p ⟦Winrm-Pa55⟧",
    ],
    "Token prefixes (SaaS)": [
        "VAULT_TOKEN ⟦hvs.CAESIJ3mQ9bF2xYk7LpR4tW8zN1cV6hD0sG5jA3eU9oXyZqBGh4KHGh2cy5QbXp4cTRiV2Zy⟧",
        "vault token lookup ⟦hvb.AAAAAQKz9Xk2mQ8pR4vT6wZ0cH5jN7gU2iE8aS4dF6oB1yM3nV5kX7⟧",
        "client_id=123-abc.apps.googleusercontent.com secret ⟦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⟧",
        "https://maps.googleapis.com/maps/api/geocode/json?key=⟦AIzau8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8⟧",
        "curl -H 'Authorization: Basic ⟦amRvZUBjb250b3NvLmNvbTpBVEFUVDN4RmZHRjA=⟧' https://contoso.atlassian.net/rest/api/3/myself",
        "jira token ⟦ATATT3xFfGF0T8kq2WmZr5Xv9Lp1Hb7Nc4Jd6Qs0Ye3Ua8Go2Ri5Tw7Ek9Mz1Pf4Vh6Bn0Cx3Dl8Sj2Ag5=A1B2C3D4⟧",
        "bitbucket app password ⟦ATBB3kLm9Qx2Rz7Vb1Nw8Yp4Hc6Js0Ft5Gd3E1C7A9⟧",
        "grafana service account ⟦glsa_Xk9mQ2rT7vB4nW8zL1pR5yH3cJ6dF0sG_4a7c9e1f⟧",
        "GRAFANA_CLOUD=⟦glc_eyJvIjoiMTIzNDU2IiwibiI6InN0YWNrLTEyMzQ1Ni1obS1yZWFkIiwiayI6IjF3MjNlNHI1dDZ5N3U4aTkifQ==⟧",
        "grafana api key ⟦eyJrIjoiT0tTcG1pUlY2RnVKZTFVaDFsNFZXdE9ZWmNrMkZYbk9ZIiwibiI6ImFkbWluIiwiaWQiOjF9⟧",
        "bot.run('⟦MTA4NzY1NDMyMTA5ODc2NTQzMg.GkP3xQ.Zt9vR2mN8bW4yL6cJ1hF5dS7aQ0eU3iO9pXkVr⟧')",
        "Authorization: Bot ⟦MTA4NzY1NDMyMTA5ODc2NTQzMg.GkP3xQ.Zt9vR2mN8bW4yL6cJ1hF5dS7aQ0eU3iO9pXkVr⟧",
        "slack bot ⟦xoxb-2153628731-4856362749811-Yq2bYkQXCqzRYhTL2dUgpJmW⟧",
        "GITHUB_TOKEN=⟦ghp_dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnF⟧",
        "CI_TOKEN ⟦glpat-y4Qwb8DwkNhFdnXsiVpz⟧",
        "//registry.npmjs.org/:_authToken=⟦npm_vJDCTbyvHNsG9eh6Yo4gfqrc5XlrWi0B26R0⟧",
        "password = ⟦pypi-AgEIcHlwaS5vcmcHZt_PlJhx2jIclHkCiHp6bR1IqfEouHgxzNNAL5wIScGebcy8F5n3_YNBDRz⟧",
        "stripe ⟦sk_live_z63FfkCzJr4i0B3JrTAwR4y9⟧",
        "SENDGRID ⟦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⟧",
        "twilio key ⟦SKe4fb440034d6608697a8d41bed440e50⟧",
        "DD_API_KEY ⟦0f1e2d3c4b5a69788796a5b4c3d2e1f0⟧",
        "setx DD_APP_KEY ⟦0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4⟧",
        "shopify ⟦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⟧",
        "DIGITALOCEAN_TOKEN ⟦dop_v1_3f1a9b2c8d7e6f5a4b3c2d1e0f9a8b7c3f1a9b2c8d7e6f5a4b3c2d1e0f9a8b7c⟧",
        "docker hub ⟦dckr_pat_Xk9mQ2rT7vB4nW8zL1pR5yH3cJ6⟧",
        "HF ⟦hf_Xk9mQ2rT7vB4nW8zL1pR5yH3cJ6dF0sGqA⟧",
        "postman ⟦PMAK-65a1b2c3d4e5f60718293a4b-0f1e2d3c4b5a69788796a5b4c3d2e1f0a1⟧",
        "newrelic ⟦NRAK-X1Y2Z3A4B5C6D7E8F9G0H1I2J3K⟧",
        "databricks ⟦dapi0f1e2d3c4b5a69788796a5b4c3d2e1f0⟧",
        "telegram bot ⟦6123456789:AAHk9mQ2rT7vB4nW8zL1pR5yH3cJ6dF0sGq⟧",
        "okta Authorization: SSWS ⟦00Xk9mQ2rT7vB4nW8zL1pR5yH3cJ6dF0sGqA1b2C3⟧",
        "linear ⟦lin_api_Xk9mQ2rT7vB4nW8zL1pR5yH3cJ6dF0sGqA1b2C3d⟧",
        "ANTHROPIC_API_KEY=⟦sk-ant-api03-DtkwtDDb-xHKas1VOqg6YYZYn9ZhyiA4uoRgnatm⟧",
    ],
    "AWS": [
        "aws_access_key_id = ⟦AKIAIOSFODNN7EXAMPLE⟧",
        "aws_secret_access_key = ⟦wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8vN3kL2p⟧",
        "aws_secret_access_key ⟦wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8vN3kL2p⟧",
        "aws configure set aws_secret_access_key ⟦wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8vN3kL2p⟧",
        '"SecretAccessKey": "⟦wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8vN3kL2p⟧",',
        "Access key ID,Secret access key\n⟦AKIAQZ8LW2XV9RTKMP3N⟧,⟦Zq8Lw2Xv9RtZq8Lw2Xv9RtZq8Lw2Xv9Rt+abcdef⟧",
        "User name,Password,Access key ID,Secret access key,Console login link\n"
        "jdoe,⟦Xy12!abcDEF⟧,⟦AKIAQZ8LW2XV9RTKMP3N⟧,⟦Zq8Lw2Xv9RtZq8Lw2Xv9RtZq8Lw2Xv9Rt+abcdef⟧,"
        "https://123456789012.signin.aws.amazon.com/console",
        "User name,Password,Console sign-in URL\njdoe,⟦Xy12!abcDEF⟧,https://123456789012.signin.aws.amazon.com/console",
        "AWS_SESSION_TOKEN=⟦IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD⟧",
    ],
    "Plain language": [
        "the new password is ⟦Winter2024!⟧",
        "Password is ⟦Tr0ub4dor&3⟧ until Friday",
        "password for bob is ⟦B0b-Temp-77⟧",
        "temp password ⟦Temp#4411⟧ - user must change at next logon",
        "I reset it, temporary password: ⟦Welcome-42⟧",
        "pw: ⟦hunter22⟧",
        "user jdoe pw ⟦Jd0e!2024⟧",
        "Passwort: ⟦Sommer2024!⟧",
        "das neue Kennwort lautet ⟦Herbst#2024⟧",
        "Kennwort ist ⟦Fruehling2024⟧",
        "mot de passe : ⟦Printemps2024!⟧",
        "le mot de passe est ⟦Hiver2024$⟧",
        "la contraseña es ⟦Verano2024!⟧",
        "contraseña: ⟦Invierno#24⟧",
        "wachtwoord: ⟦Zomer2024!⟧",
        "het wachtwoord is ⟦Winter#2024⟧",
        "a senha é ⟦Outono2024!⟧",
        "creds: admin / ⟦Adm1n-Pw!⟧",
    ],
}

CATALOGUE: tuple[Sample, ...] = tuple(
    Sample(family, marked) for family, samples in _FAMILIES.items() for marked in samples
)
FAMILIES = tuple(_FAMILIES)


def corpus_lines() -> list[str]:
    """The ordinary log lines: none of them holds a secret."""
    return CORPUS_PATH.read_text(encoding="utf-8").splitlines()


def is_masked(sample: Sample, masked: str) -> bool:
    """Every secret gone, every word around it kept."""
    return as_masked(masked) == sample.expected


def table(redact: Callable[[str], Redaction], before: Callable[[str], Redaction] | None = None) -> str:
    """The Markdown table of tests/reliability/README.md: per family, samples tried, masked, false positives.

    A false positive is a line of `ordinary_logs.txt` that redaction changes; it counts for the families
    whose samples are masked with the same kinds of mark.
    """
    lines = corpus_lines()
    changed = [(line, set(masked.kinds)) for line in lines if (masked := redact(line)).text != line]
    head = (
        "| family | formats tried | masked before | masked now | false positives on the corpus |\n"
        "| --- | ---: | ---: | ---: | ---: |"
    )
    rows = []
    totals = [0, 0, 0]
    for family in FAMILIES:
        samples = [s for s in CATALOGUE if s.family == family]
        results = [redact(s.text) for s in samples]
        now = sum(is_masked(s, r.text) for s, r in zip(samples, results, strict=True))
        then = sum(is_masked(s, before(s.text).text) for s in samples) if before else now
        kinds = {kind for r in results for kind in r.kinds}
        false = sum(bool(found & kinds) for _, found in changed)
        rows.append(f"| {family} | {len(samples)} | {then} | {now} | {false} |")
        totals = [totals[0] + len(samples), totals[1] + then, totals[2] + now]
    rows.append(f"| **all** | **{totals[0]}** | **{totals[1]}** | **{totals[2]}** | **{len(changed)}** |")
    summary = (
        f"\nFalse positives: {len(changed)} of the {len(lines)} lines of `ordinary_logs.txt` changed"
        + (":\n" + "\n".join(f"- `{line}`" for line, _ in changed) if changed else ".")
    )
    return "\n".join([head, *rows]) + "\n" + summary


if __name__ == "__main__":
    from bot.redaction import redact as _redact

    _before = None
    if len(sys.argv) > 1:  # a path to an older redaction.py to compare with
        import importlib.util

        spec = importlib.util.spec_from_file_location("redaction_before", sys.argv[1])
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["redaction_before"] = module
        spec.loader.exec_module(module)
        _before = module.redact
    print(table(_redact, _before))
