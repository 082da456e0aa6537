"""Secrets on command lines: a flag's value on the line of the tool it belongs to, piped passwords, SQL.

Rules run in the order of `engine.RULES`: this family's place in it matters, and so does the order here.
"""

from __future__ import annotations

from .patterns import (
    _NET,
    _NOT_MASKED,
    _SECRETISH,
    _SP,
    _WB,
    _command,
    _quoted_or_word,
    _Rule,
    _rule,
    _word,
)

RULES: tuple[_Rule, ...] = (
    # Command lines.
    _rule(  # net use \\srv\share /user:DOM\u P@ssw0rd
        "password",
        rf"{_NET}use\b(?>[^\r\n]{{0,300}}?{_SP}/u(?:ser)?:)\S+{_SP}+{_quoted_or_word(exclude='/*')}",
        ("net",),
        mode="lower",
    ),
    _rule(  # net use Z: \\srv\share P@ssw0rd /user:DOM\u
        "password",
        rf"{_NET}use{_SP}+(?:[a-z]:{_SP}+|\*{_SP}+)?\\\\\S+{_SP}+{_quoted_or_word(exclude='/*')}",
        ("net",),
        mode="lower",
    ),
    _rule(  # net user jdoe P@ssw0rd /add
        "password",
        rf"{_NET}user{_SP}+(?:\"[^\"\r\n]+\"|[^\s/\"]+){_SP}+{_quoted_or_word(exclude='/*')}",
        ("net",),
        mode="lower",
    ),
    _rule(  # cmdkey /pass:..., runas-style tools
        "password",
        rf"/(?<!\S/)pass(?:word)?:{_quoted_or_word(exclude='')}",
        ("/pass",),
        mode="lower",
    ),
    # A password flag on the command line of the tool it belongs to (the same flag means something else
    # elsewhere: sqlcmd's -P is the password, its -p prints statistics).
    _command(
        "password",
        tuple("psexec psexec64 paexec sshpass evil-winrm smbmap crackmapexec netexec nxc rdesktop".split()),
        rf"-p{_SP}*",
    ),
    _command(
        "password", ("sqlcmd", "SQLCMD", "osql", "OSQL", "isql", "bcp", "BCP"), rf"-P{_SP}*", mode="exact"
    ),
    _command(  # docker login -u ci -p x, az login -u x -p y
        "password",
        ("docker", "podman", "nerdctl", "buildah", "skopeo", "oras", "helm", "az"),
        rf"-p{_SP}+",
        then=rf"(?:{_SP}+(?:registry|acr))?{_SP}+login",
    ),
    _command(
        "password",
        tuple(
            "ldapsearch ldapmodify ldapadd ldapdelete ldappasswd ldapwhoami ldapcompare ldapmodrdn".split()
        ),
        rf"-w{_SP}*",
        mode="exact",
    ),
    _command("password", ("redis-cli",), rf"-a{_SP}+"),
    _command("password", ("mysqladmin",), rf"password{_SP}+"),
    _command("password", ("xfreerdp", "wfreerdp", "sdl-freerdp", "freerdp", "xfreerdp3"), r"[/\-]p:"),
    _command("password", ("plink", "pscp", "psftp", "putty", "kitty"), rf"-pw{_SP}+"),
    _command("password", ("schtasks",), rf"/r?p{_SP}+(?!\*)"),
    _command("password", ("7z", "7za", "7zr", "7zz", "rar", "unrar", "winrar"), r"-h?p(?=[^\s\-])"),
    _command("password", ("zip",), rf"-P{_SP}+", mode="exact"),
    _command("password", ("ssh-keygen",), rf"-[NP]{_SP}*", mode="exact"),
    _command("wifi_key", ("nmcli",), rf"(?:password|wifi-sec\.psk|802-11-wireless-security\.psk){_SP}+"),
    _rule(  # smbclient -U 'DOM\user%pass'
        "password",
        rf"(?:{_word('smbclient', 'rpcclient', 'smbcacls', 'smbget', 'smbmap', 'smbtree', 'crackmapexec', 'netexec')}"
        rf"|{_word('nxc', 'enum4linux', 'impacket-', 'mount.cifs')}|{_NET}(?:rpc|ads))[^\r\n]*",
        ("net rpc", "net ads", *"smb rpcclient crackmapexec netexec nxc enum4linux impacket cifs".split()),
        mode="lower",
        inner=rf"{_SP}(?:-u|--user(?:name)?)(?:{_SP}+|=)[\"']?[^\s%\"']+%{_NOT_MASKED}(?P<x>[^\s\"']+)",
    ),
    _rule(  # htpasswd -b file user password
        "password",
        rf"{_word('htpasswd')}(?=[^\r\n]{{0,100}}?{_SP}-[a-zA-Z]*b)(?:{_SP}+-[a-zA-Z]+)*{_SP}+(?!-)\S+{_SP}+(?!-)\S+"
        rf"{_SP}+{_quoted_or_word(exclude='-')}",
        ("htpasswd",),
    ),
    _rule(  # openssl -passin pass:x
        "password",
        rf"-pass(?:in|out|word)?{_SP}+pass:{_NOT_MASKED}(?P<x>\S+)",
        ("pass:",),
        mode="lower",
    ),
    _rule(  # echo pw | sudo -S …, echo pw | passwd --stdin u, echo pw | docker login --password-stdin
        "password",
        rf"{_word('echo', 'printf', before=_WB)}(?:{_SP}+-[a-z]+)*{_SP}+(?:\"(?!\$){_NOT_MASKED}(?P<xd>[^\"\r\n]+)\""
        rf"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)'|(?![-$]){_NOT_MASKED}(?P<xb>[^\s|\"']+)){_SP}*\|{_SP}*"
        rf"(?:sudo\b(?>[^|\r\n]{{0,80}}?{_SP}-[a-z]*s[a-z]*\b)|sudo{_SP}+--stdin|passwd\b[^|\r\n]{{0,60}}--stdin|kinit\b"
        rf"|[^|\r\n]{{0,80}}?--password-stdin)",
        ("echo", "printf"),
        mode="lower",
    ),
    _rule(  # echo 'user:pw' | chpasswd
        "password",
        rf"{_word('echo', before=_WB)}(?:{_SP}+-[a-z]+)*{_SP}+[\"']?[^\s:\"'|]+:{_NOT_MASKED}(?P<x>[^\s\"'|]+)[\"']?{_SP}*\|"
        rf"{_SP}*(?:sudo{_SP}+)?chpasswd",
        ("chpasswd",),
        mode="lower",
    ),
    _rule(  # sqlplus system/pw@db, expdp, rman target sys/pw@db
        "password",
        rf"{_word('sqlplus', 'sqlldr', 'expdp', 'impdp', 'rman', 'dgmgrl')}(?:\.exe)?(?:{_SP}+-\w+)*{_SP}+"
        rf"(?:(?:target|catalog|userid){_SP}*={_SP}*|(?:target|catalog){_SP}+)?[\w$#\"]+/{_NOT_MASKED}(?P<x>[^\s@/\"]+)"
        rf"(?=@|\s|$)",
        ("sqlplus", "sqlldr", "expdp", "impdp", "rman", "dgmgrl"),
        mode="lower",
    ),
    _rule(
        "password",
        rf"jdbc:oracle:[a-z0-9]+:[^/\s@:]+/{_NOT_MASKED}(?P<x>[^@\s]+)@",
        ("jdbc:oracle",),
        mode="lower",
    ),
    _rule(  # SQL: IDENTIFIED BY 'x', WITH PASSWORD 'x', PASSWORD N'x'
        "password",
        rf"(?:{_word('identified', before=_WB)}(?:{_SP}+with{_SP}+\S+)?{_SP}+by{_SP}+(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\""
        rf"|(?![\"']){_NOT_MASKED}{_SECRETISH}(?P<xb>[^\s;'\"]+))|(?:{_word('identified', before=_WB)}{_SP}+by"
        rf"|{_word('password', before=_WB)}){_SP}+n?'{_NOT_MASKED}(?P<xs>[^'\r\n]+)')",
        ("identified", "password"),
        mode="lower",
    ),
    _rule(  # New-Object System.Net.NetworkCredential('user', 'pw'), C# new NetworkCredential("u", "p")
        "password",
        rf"networkcredential(?:{_SP}*\(|{_SP}+-argumentlist{_SP}+\(?){_SP}*(?:\"[^\"\r\n]*\"|'[^'\r\n]*'){_SP}*,{_SP}*"
        rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)')",
        ("networkcredential",),
        mode="lower",
    ),
    _rule(
        "password",
        rf"mysql(?:dump|admin)?\b(?>[^\r\n]{{0,300}}?{_SP}-p(?=[^\s\-])){_NOT_MASKED}(?P<x>\S+)",
        ("mysql",),
    ),
    _rule(  # its flags in any order, before or after the value: -AsPlainText -Force -String 'x'
        "password",
        rf"convertto-securestring(?:{_SP}+-(?:asplaintext|force|string)(?::\$true)?)*{_SP}+"
        rf"{_quoted_or_word(exclude='-$(')}",
        ("convertto-securestring",),
        mode="lower",
    ),
    _rule(
        "password",
        rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)')"
        rf"{_SP}*\|{_SP}*convertto-securestring",
        ("convertto-securestring",),
        mode="lower",
    ),
    _rule(  # curl -u user:pass, curl --user user:pass
        "password",
        rf"-(?<![\w-]-)(?:u|-user)(?:{_SP}+|=)[\"']?[^\s:\"'\[\]]+:{_NOT_MASKED}(?P<x>[^\s\"']+)",
        ("-u", "--user"),
    ),
)
