"""XML and PHP settings, Wi-Fi keys, SNMP communities, IPsec and RADIUS secrets, device configurations, LAPS.

Rules run in the order of `engine.RULES`: this family's place in it matters, and so does the order here.
"""

from __future__ import annotations

from .patterns import (
    _ASSIGN,
    _LINE,
    _NOT_MASKED,
    _NS,
    _SP,
    _TYPE,
    _WB,
    _assignment,
    _config_value,
    _parameter,
    _quoted_or_word,
    _Rule,
    _rule,
    _value,
    _word,
)

RULES: tuple[_Rule, ...] = (
    # XML: <AdminPassword>x</AdminPassword>, unattend.xml <Password><Value>x</Value>.
    _rule(
        "password",
        rf"(?:password|passwd)>(?:\s*<value>|{_SP}*){_NOT_MASKED}(?P<x>[^<\r\n]+)</",
        ("password>", "passwd>"),
        mode="lower",
    ),
    _rule(
        "secret",
        rf"(?:secret|token|apikey|pre-shared-key|psk|passphrase)>(?:\s*<value>|{_SP}*){_NOT_MASKED}(?P<x>[^<\r\n]+)</",
        ("secret>", "token>", "apikey>", "key>", "psk>", "passphrase>"),
        mode="lower",
    ),
    _rule(  # Wi-Fi profile XML
        "wifi_key",
        rf"keymaterial>{_SP}*{_NOT_MASKED}(?P<x>[^<\r\n]+)</",
        ("keymaterial>",),
        mode="lower",
    ),
    _rule(  # PHP: define('DB_PASSWORD', '...'), WordPress keys and salts
        "secret",
        rf"define\(\s*['\"]\w*(?:password|key|salt|secret|token)['\"]\s*,\s*['\"]{_NOT_MASKED}"
        rf"(?P<x>[^'\"\r\n]+)['\"]",
        ("define",),
        mode="lower",
    ),
    # Wi-Fi: `netsh wlan show profile name=X key=clear` output, and `netsh ... key=Passw0rd`.
    _rule(
        "wifi_key",
        rf"key{_SP}+content{_SP}*:{_SP}*{_NOT_MASKED}(?P<x>\S(?:[^\r\n]*\S)?)",
        ("key",),
        mode="lower",
    ),
    _rule(
        "wifi_key",
        rf"netsh\b(?>[^\r\n]{{0,300}}?\bkey(?:material)?{_SP}*={_SP}*)(?!clear\b){_quoted_or_word(exclude='')}",
        ("netsh",),
        mode="lower",
    ),
    # SNMP community strings.
    _rule(
        "snmp_community",
        rf"community(?:[_\-]?(?:string|name))?{_ASSIGN}{_value()}",
        ("community",),
        mode="lower",
    ),
    _rule(
        "snmp_community",
        rf"snmp-server{_SP}+community{_SP}+{_NOT_MASKED}(?P<x>\S+)",
        ("snmp-server",),
        mode="lower",
    ),
    _rule(
        "snmp_community",
        rf"r(?<!\Sr)[ow]community6?{_SP}+{_NOT_MASKED}(?P<x>\S+)",
        ("community",),
        mode="lower",
    ),
    _rule(
        "snmp_community",
        rf"snmp(?:walk|get|getnext|bulkwalk|bulkget|set|table|trap)\b(?>[^\r\n]{{0,300}}?{_SP}-c{_SP}*(?=[^\s\-$]))"
        rf"{_NOT_MASKED}(?P<x>\S+)",
        ("snmp",),
        mode="lower",
    ),
    _rule(  # snmp-server host 10.0.0.5 version 2c <community>
        "snmp_community",
        rf"snmp-server{_SP}+host{_SP}+\S+(?:{_SP}+(?:informs|traps))?(?:{_SP}+version{_SP}+(?:1|2c|3{_SP}+(?:auth|noauth|priv)))?"
        rf"{_SP}+(?!(?:version|informs|traps|vrf)\b){_NOT_MASKED}(?P<x>\S+)",
        ("snmp-server",),
        mode="lower",
    ),
    _rule(  # Junos `set snmp community x`, net-snmp `com2sec name source x`
        "snmp_community",
        rf"(?:{_word('snmp', before=_WB)}{_SP}+community{_SP}+{_config_value()}"
        rf"|com2sec6?{_SP}+\S+{_SP}+\S+{_SP}+{_NOT_MASKED}(?P<x>\S+))",
        ("snmp", "com2sec"),
        mode="lower",
    ),
    _rule(  # SNMPv3 users: snmp-server user u g v3 auth sha <x> priv aes 128 <y>; net-snmp createUser
        "snmp_key",
        r"(?:snmp-server[ \t]+user|createuser)\b[^\r\n]*",
        ("snmp-server", "createuser"),
        mode="lower",
        inner=rf"{_SP}(?:md5|sha[0-9\-]*|3?des|aes(?:{_SP}*(?:128|192|256))?+){_SP}+{_quoted_or_word(exclude='-')}",
    ),
    _rule(  # snmpwalk -v3 … -A <auth> -X <priv>
        "snmp_key",
        rf"{_word('snmp', 'SNMP', before=_WB)}[a-zA-Z]*\b[^\r\n]*",
        ("snmp",),
        inner=rf"{_SP}-[AX]{_SP}*{_quoted_or_word(exclude='-$')}",
    ),
    # IPsec / IKE pre-shared keys and RADIUS / TACACS+ shared secrets.
    _rule(
        "shared_secret",
        rf"crypto{_SP}+isakmp{_SP}+key{_TYPE}{_SP}+{_NOT_MASKED}(?P<x>\S+)",
        ("isakmp",),
        mode="lower",
    ),
    _rule(  # strongSwan ipsec.secrets: `left right : PSK "x"`
        "shared_secret",
        rf"(?:psk(?<=: psk)|eap(?<=: eap)|xauth(?<=: xauth)){_SP}+{_config_value()}",
        ("psk", "eap", "xauth"),
        mode="lower",
    ),
    _rule(
        "shared_secret",
        rf"{_LINE}(?:radius|tacacs)-server\b(?>[^\r\n]{{0,200}}?{_SP}key(?={_SP})){_TYPE}{_SP}+{_config_value()}",
        ("radius-server", "tacacs-server"),
        mode="lower",
    ),
    _assignment("shared_secret", r"(?:pre[_.\-]?)?shared[_.\-]?(?:key|secret)", ("shared",)),
    _parameter("shared_secret", r"(?:pre-?)?shared-?key|psk", ("shared", "psk")),
    # Device configurations (IOS, ASA, NX-OS, FortiOS, Junos, Aruba, Redis): the keyword, its type and the
    # value. IOS's `enable secret` and `username … password` are unambiguous; keywords that are also
    # English words (password, secret, key) count only at the start of a line, with a value that holds a
    # digit or a symbol, so "Password expires …", "key chain OSPF" and "Key Length: 0" stay readable.
    _rule(
        "password",
        rf"{_LINE}(?:enable{_SP}+(?:password|secret)(?:{_SP}+level{_SP}+[0-9]+)?|username{_SP}+\S+"
        rf"(?:{_SP}+privilege{_SP}+[0-9]+)?(?:{_SP}+algorithm-type{_SP}+\S+)?{_SP}+(?:password|secret))"
        rf"{_TYPE}{_SP}+{_config_value()}",
        ("enable", "username"),
        mode="lower",
    ),
    _rule(
        "secret",
        rf"{_LINE}(?:set{_SP}+)?(?:password|passwd|secret|key|requirepass|masterauth"
        rf"|neighbor{_SP}+\S+{_SP}+password|ppp{_SP}+(?:chap|pap){_SP}+(?:sent-username{_SP}+\S+{_SP}+)?password"
        rf"|l2tp{_SP}+tunnel{_SP}+password){_TYPE}{_SP}+{_config_value()}",
        ("pass", "secret", "key", "requirepass", "masterauth"),
        mode="lower",
    ),
    _rule(
        "secret",
        rf"(?:{_word('authentication-key', 'key-string', 'pre-shared-key', 'encrypted-password', before=_NS)}"
        rf"|{_word('psksecret', 'wpa-passphrase', before=_NS)}"
        rf"|(?<=authentication-key){_SP}+[0-9]+{_SP}+md5|{_word('message-digest-key', before=_NS)}{_SP}+[0-9]+{_SP}+md5"
        rf"|{_word('wpa-psk', before=_NS)}(?={_SP}+(?:ascii|hex))|{_word('psk', before=_NS)}{_SP}+set-key)"
        rf"{_TYPE}{_SP}+{_config_value()}",
        ("-key", "key-", "encrypted-password", "psksecret", "wpa-passphrase", "wpa-psk", "set-key"),
        mode="lower",
    ),
    _rule(  # Android / iOS Wi-Fi QR code: WIFI:S:name;T:WPA;P:x;;
        "wifi_key",
        r"wifi:[^\r\n]*",
        ("wifi:",),
        mode="lower",
        inner=rf"(?<=[:;])p:{_NOT_MASKED}(?P<x>(?:\\.|[^;\\\r\n])+)",
    ),
    # LAPS: legacy ms-Mcs-AdmPwd in clear; Windows LAPS's msLAPS-Password is JSON with the password in "p".
    _assignment("password", r"ms-mcs-admpwd(?![a-z])", ("ms-mcs-admpwd",)),
    _rule(
        "password",
        rf"mslaps-password\b(?>[^\r\n]{{0,300}}?\"p\"{_SP}*:{_SP}*)\"{_NOT_MASKED}(?P<x>(?:[^\"\\\r\n]|\\.)+)\"",
        ("mslaps-password",),
        mode="lower",
    ),
)
