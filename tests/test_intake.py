"""What the engineer pastes or uploads becomes safe, bounded input for Claude, or a message to act on."""

from __future__ import annotations

import base64
import codecs
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import IntakeError
from bot.intake import Attachment, FittedLog, fit_log, prepare_input

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"

WINDOWS_EVENTS = """\
Information\t3/1/2024 10:31:58 AM\tService Control Manager\t7036\tNone\tThe Print Spooler service entered the running state.
Error\t3/1/2024 10:32:01 AM\tService Control Manager\t7031\tNone\tThe Print Spooler service terminated unexpectedly.
Warning\t3/1/2024 10:32:05 AM\tMicrosoft-Windows-PrintService\t372\tPrinting a document\tThe document failed to print on HP-4th-Floor. Win32 error code returned by the print processor: 0x80070005.
Error\t3/1/2024 10:33:12 AM\tMicrosoft-Windows-GroupPolicy\t1129\tNone\tThe processing of Group Policy failed because of lack of network connectivity to a domain controller.
Information\t3/1/2024 10:34:00 AM\tMicrosoft-Windows-Kernel-General\t16\tNone\tThe access history in hive was cleared.
Audit Failure\t3/1/2024 10:34:09 AM\tMicrosoft-Windows-Security-Auditing\t4625\tLogon\tAn account failed to log on.
Information\t3/1/2024 10:35:00 AM\tMicrosoft-Windows-Time-Service\t37\tNone\tThe time provider is now receiving valid time data.
Error\t3/1/2024 10:36:41 AM\tDCOM\t10016\tNone\tThe application-specific permission settings do not grant Local Activation permission.
"""
EVENT_DETAIL = """\
Log Name:      Security
Source:        Microsoft-Windows-Security-Auditing
Date:          3/1/2024 10:32:01 AM
Event ID:      4625
Task Category: Logon
Level:         Information
Keywords:      Audit Failure
User:          N/A
Computer:      DC01.contoso.local
Description:
An account failed to log on.
"""
SYSLOG = """\
Mar  1 10:32:01 fw01 sshd[2211]: Failed password for invalid user admin from 203.0.113.5 port 52144 ssh2
Mar  1 10:32:02 fw01 sshd[2211]: Connection closed by invalid user admin 203.0.113.5 port 52144 [preauth]
Mar  1 10:32:05 fw01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:1a:2b:3c:4d:5e SRC=203.0.113.5 DST=10.0.0.1
Mar  1 10:32:09 fw01 systemd[1]: Started Daily apt upgrade and clean activities.
Mar  1 10:32:11 fw01 CRON[3311]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)
Mar  1 10:32:15 fw01 dhcpd[812]: DHCPREQUEST for 10.0.0.42 from 00:1a:2b:3c:4d:5f via eth1
Mar  1 10:32:15 fw01 dhcpd[812]: DHCPACK on 10.0.0.42 to 00:1a:2b:3c:4d:5f via eth1
Mar  1 10:32:20 fw01 openvpn[990]: TLS Error: TLS handshake failed
"""
MSAL_LOG = """\
2024-03-01 10:32:01.123 [MSAL] Info    MSAL.Desktop 4.59.0.0 AcquireTokenSilent called for jdoe@contoso.com
2024-03-01 10:32:01.456 [MSAL] Warning Token cache: no access token found for the account
2024-03-01 10:32:01.460 [MSAL] Info    Trying refresh token grant
2024-03-01 10:32:02.001 [MSAL] Error   AADSTS50076: you must use multi-factor authentication to access the resource.
2024-03-01 10:32:02.002 [MSAL] Error   MsalUiRequiredException: ErrorCode: invalid_grant
2024-03-01 10:32:02.010 [Outlook] Info    Showing credential prompt to the user
2024-03-01 10:32:09.330 [Outlook] Warning Credential prompt dismissed by the user
2024-03-01 10:32:09.331 [Outlook] Error   Mailbox sync failed: 0x80190191 (HTTP 401)
"""
SPOOLER_LOG = """\
2024-03-01 10:32:00 [spoolsv] Job 1042 submitted by jdoe to HP-4th-Floor (\\\\printsrv01\\HP-4th-Floor)
2024-03-01 10:32:01 [spoolsv] Rendering job 1042 with HP Universal Printing PCL 6 (v7.0.1)
2024-03-01 10:32:03 [spoolsv] ERROR Job 1042: StartDocPrinter failed, error 0x80070005 (Access is denied)
2024-03-01 10:32:03 [spoolsv] Driver isolation mode: Shared
2024-03-01 10:32:04 [spoolsv] Retrying job 1042 (attempt 2 of 3)
2024-03-01 10:32:09 [spoolsv] ERROR Job 1042: port monitor timed out talking to 10.0.4.20:9100
2024-03-01 10:32:10 [spoolsv] Job 1042 paused
2024-03-01 10:32:15 [spoolsv] Spooler queue HP-4th-Floor: 3 jobs waiting
"""
TRACEBACK = """\
2024-03-01 10:32:01,001 INFO sync starting for tenant contoso
Traceback (most recent call last):
  File "/opt/sync/main.py", line 42, in run
    client.connect()
  File "/opt/sync/client.py", line 88, in connect
    sock = socket.create_connection((host, port), timeout=5)
  File "/usr/lib/python3.11/socket.py", line 851, in create_connection
    raise exceptions[0]
ConnectionRefusedError: [Errno 111] Connection refused
2024-03-01 10:32:02,500 INFO retrying in 30s
"""


def _info_lines(count: int, *, start: int = 0) -> list[str]:
    return [
        f"2024-03-01 10:{(i // 60) % 60:02d}:{i % 60:02d} INFO heartbeat {i} ok"
        for i in range(start, start + count)
    ]


def text_file(name: str, content: str) -> Attachment:
    return Attachment(filename=name, media_type="text/plain", data=content.encode())


# --- refusing what cannot be used ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_nothing_to_work_with_asks_for_a_description(text: str) -> None:
    with pytest.raises(IntakeError, match="Describe the problem"):
        prepare_input(text)


def test_an_empty_file_alone_asks_for_a_description() -> None:
    with pytest.raises(IntakeError, match="Describe the problem"):
        prepare_input("", [text_file("empty.log", "  \n")])


def test_an_empty_file_next_to_a_message_is_left_out_with_a_note() -> None:
    prepared = prepare_input("Outlook keeps prompting", [text_file("empty.log", "")])
    assert prepared.text == "Outlook keeps prompting"
    assert prepared.notes == ("empty.log is empty, so it was left out.",)


def test_a_binary_file_is_refused_by_name_with_what_to_do() -> None:
    blob = Attachment(filename="dump.log", media_type="text/plain", data=b"MZ\x90\x00\x03\x00\x00\x00\x04")
    with pytest.raises(IntakeError) as caught:
        prepare_input("crash dump attached", [blob])
    assert "dump.log" in caught.value.message
    assert "plain text" in caught.value.message


def test_an_exported_event_log_gets_a_hint_on_saving_it_as_text() -> None:
    evtx = Attachment(filename="System.evtx", media_type=None, data=b"ElfFile\x00\x00\x00\x00\x00")
    with pytest.raises(IntakeError, match=r"System\.evtx.*Save All Events As"):
        prepare_input("", [evtx])


def test_invalid_utf8_is_refused_with_the_filename_and_how_to_fix_it() -> None:
    latin1 = Attachment(
        filename="notes.txt", media_type="text/plain", data="Kennwort für Drucker".encode("cp1252")
    )
    with pytest.raises(IntakeError) as caught:
        prepare_input("see notes", [latin1])
    assert "notes.txt" in caught.value.message
    assert "UTF-8" in caught.value.message


def test_a_text_file_pretending_to_be_a_png_is_refused() -> None:
    fake = Attachment(filename="screen.png", media_type="image/png", data=b"this is not a png at all")
    with pytest.raises(IntakeError, match=r"screen\.png isn't a PNG, JPEG, GIF or WEBP image"):
        prepare_input("see screenshot", [fake])


@pytest.mark.parametrize(
    "attachment",
    [
        Attachment(filename="capture.heic", media_type=None, data=b"\x00\x00\x00\x18ftypheic"),
        Attachment(filename="upload", media_type="image/bmp", data=b"BM\x36\x00\x00\x00"),
    ],
)
def test_image_formats_claude_cannot_read_are_refused(attachment: Attachment) -> None:
    with pytest.raises(IntakeError, match="isn't a PNG, JPEG, GIF or WEBP image"):
        prepare_input("", [attachment])


def test_an_image_over_5_mb_is_refused() -> None:
    big = Attachment(
        filename="full-screen.png", media_type="image/png", data=PNG + b"\x00" * (5 * 1024 * 1024)
    )
    with pytest.raises(IntakeError, match=r"full-screen\.png is 5\.0 MB.*at most 5 MB"):
        prepare_input("", [big])


def test_an_image_of_exactly_5_mb_is_accepted() -> None:
    edge = Attachment(filename="edge.png", media_type="image/png", data=PNG.ljust(5 * 1024 * 1024, b"\x00"))
    assert len(prepare_input("", [edge]).images) == 1


def test_more_than_five_images_are_refused_and_five_are_fine() -> None:
    shots = [Attachment(filename=f"s{i}.png", media_type="image/png", data=PNG) for i in range(6)]
    assert len(prepare_input("steps", shots[:5]).images) == 5
    with pytest.raises(IntakeError, match="You attached 6 images; FlowPilot looks at up to 5"):
        prepare_input("steps", shots)


# --- images -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_images_are_recognised_by_their_bytes_not_their_label(data: bytes, media_type: str) -> None:
    shot = Attachment(filename="IMG_0042", media_type="application/octet-stream", data=data)
    prepared = prepare_input("", [shot])
    assert prepared.intake_type == "screenshot"
    assert prepared.text == ""
    (image,) = prepared.images
    assert image.media_type == media_type
    assert base64.b64decode(image.data_b64) == data
    assert image.filename == "IMG_0042"


def test_a_jpeg_labelled_png_is_sent_as_jpeg() -> None:
    (image,) = prepare_input("", [Attachment(filename="shot.png", media_type="image/png", data=JPEG)]).images
    assert image.media_type == "image/jpeg"


# --- text files ---------------------------------------------------------------------------------------


def test_a_text_file_becomes_a_fenced_block_headed_by_its_filename() -> None:
    prepared = prepare_input("Printing fails on the 4th floor", [text_file("spooler.log", SPOOLER_LOG)])
    assert prepared.intake_type == "log_paste"
    log = SPOOLER_LOG.rstrip("\n")
    assert prepared.text == f"Printing fails on the 4th floor\n\nAttached file spooler.log:\n```\n{log}\n```"
    assert prepared.notes == ()


def test_a_file_holding_backticks_cannot_break_out_of_its_block() -> None:
    readme = "Run this:\n```\nGet-Service Spooler\n```\nthen reboot"
    text = prepare_input("", [text_file("steps.md", readme)]).text
    assert text == f"Attached file steps.md:\n````\n{readme}\n````"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF16_LE + "Kennwort abgelaufen für jdoe\r\n".encode("utf-16-le"), "UTF-16 LE"),
        (codecs.BOM_UTF16_BE + "Kennwort abgelaufen für jdoe\r\n".encode("utf-16-be"), "UTF-16 BE"),
        (codecs.BOM_UTF8 + "Kennwort abgelaufen für jdoe\r\n".encode(), "UTF-8 with BOM"),
    ],
)
def test_windows_encodings_with_a_bom_are_read(data: bytes, encoding: str) -> None:
    prepared = prepare_input("", [Attachment(filename="export.txt", media_type="text/plain", data=data)])
    assert "Kennwort abgelaufen für jdoe" in prepared.text, encoding
    assert "\ufeff" not in prepared.text


def test_filenames_are_shown_without_their_path_or_backticks() -> None:
    attachment = text_file("C:\\Users\\jdoe\\Desktop\\se`tup\n.log", "line one")
    assert prepare_input("", [attachment]).text.startswith("Attached file setup.log:\n")


def test_nul_characters_and_broken_surrogates_never_reach_storage() -> None:
    prepared = prepare_input("printer\x00 offline \ud800 again")
    assert prepared.text == "printer offline \ufffd again"
    prepared.text.encode("utf-8")


# --- secrets ------------------------------------------------------------------------------------------


def test_secrets_are_masked_in_the_message_and_in_files_with_a_note() -> None:
    config = "db:\n  host: sql01\n  password: Tr0ub4dor3\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
    prepared = prepare_input("Sync fails, password=hunter2 did not help", [text_file("app.yaml", config)])
    for secret in ("hunter2", "Tr0ub4dor3", "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in prepared.text
    assert "host: sql01" in prepared.text
    assert prepared.redactions == 3
    assert prepared.notes == ("Masked 3 secrets (aws_access_key, password) before saving or sending.",)


def test_one_secret_gets_a_singular_note() -> None:
    prepared = prepare_input("VPN config has psk=Zq8Lw2Xv9Rt and still fails")
    assert prepared.notes == ("Masked 1 secret (password) before saving or sending.",)
    assert prepared.redactions == 1


def test_secrets_are_masked_before_a_long_line_is_cut() -> None:
    # The key straddles the 1,000-character cut: trimming first would leave most of it readable.
    line = "ERROR " + "x" * 984 + " AKIAIOSFODNN7EXAMPLE " + "y" * 2000
    log = "\n".join([*_info_lines(100), line, *_info_lines(100, start=100)])
    prepared = prepare_input("", [text_file("long.log", log)], budget_chars=5_000)
    assert "ERROR " + "x" * 984 in prepared.text
    assert "AKIAIOSFO" not in prepared.text
    assert prepared.notes[0] == "Masked 1 secret (aws_access_key) before saving or sending."


# --- classifying --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Outlook keeps asking for the password on one laptop since this morning",
        "User can't print to HP-4th-Floor, spooler restarted already",
        "7 lines of log:\n" + "\n".join(_info_lines(7)),
    ],
)
def test_a_plain_question_is_free_text(text: str) -> None:
    assert prepare_input(text).intake_type == "free_text"


@pytest.mark.parametrize(
    "text",
    [
        "Here's the error:\n```\nSTOP 0x0000007E\n```",
        WINDOWS_EVENTS,
        EVENT_DETAIL,
        SYSLOG,
        MSAL_LOG,
        SPOOLER_LOG,
        "\n".join(_info_lines(8)),
        "Sync broke:\n" + TRACEBACK,
    ],
    ids=[
        "code-block",
        "windows-events",
        "event-detail",
        "syslog",
        "msal",
        "spooler",
        "eight-lines",
        "traceback",
    ],
)
def test_pasted_logs_are_log_pastes(text: str) -> None:
    assert prepare_input(text).intake_type == "log_paste"


@pytest.mark.parametrize(
    "text",
    ["Customer called about #12345", "see ticket 12345", "Autotask T20240101.0001 again", "ticket #: 98231"],
)
def test_a_ticket_reference_is_a_psa_ticket_when_a_psa_is_connected(text: str) -> None:
    assert prepare_input(text, psa_enabled=True).intake_type == "psa_ticket"
    assert prepare_input(text, psa_enabled=False).intake_type == "free_text"


def test_a_screenshot_and_a_log_together_are_combined() -> None:
    prepared = prepare_input(
        "print fails",
        [
            Attachment(filename="dialog.png", media_type="image/png", data=PNG),
            text_file("spooler.log", SPOOLER_LOG),
        ],
    )
    assert prepared.intake_type == "combined"
    assert len(prepared.images) == 1
    assert "Attached file spooler.log:" in prepared.text


def test_a_ticket_with_a_pasted_log_is_combined() -> None:
    assert (
        prepare_input(f"ticket 4711, log below\n```\n{SYSLOG}```", psa_enabled=True).intake_type == "combined"
    )


# --- trimming -----------------------------------------------------------------------------------------


def test_a_log_within_budget_is_left_as_it_is() -> None:
    assert fit_log(SPOOLER_LOG, 10_000) == FittedLog(
        text=SPOOLER_LOG, total_lines=8, kept_lines=8, trimmed=False
    )


def test_a_long_log_keeps_head_tail_and_errors_with_context_in_order() -> None:
    lines = _info_lines(500)
    lines[200] = "2024-03-01 10:03:20 ERROR spooler: StartDocPrinter failed 0x80070005"
    lines[350] = "2024-03-01 10:05:50 WARN disk C: 91% full"
    fitted = fit_log("\n".join(lines) + "\n", 8_000)

    assert fitted.trimmed
    assert (fitted.total_lines, fitted.kept_lines) == (500, 20 + 40 + 3 + 3)
    out = fitted.text.split("\n")
    assert out[0] == "[FlowPilot kept 66 of 500 lines of this log: errors, warnings, first and last lines]"
    assert out[1:21] == lines[:20]
    assert out[21] == "… [179 lines left out] …"
    assert out[22:25] == lines[199:202]
    assert out[25] == "… [147 lines left out] …"
    assert out[26:29] == lines[349:352]
    assert out[29] == "… [108 lines left out] …"
    assert out[30:] == lines[460:]
    assert len(fitted.text) <= 8_000


def test_a_python_traceback_keeps_all_its_frames() -> None:
    log = "\n".join([*_info_lines(300), *TRACEBACK.splitlines(), *_info_lines(300, start=300)])
    fitted = fit_log(log, 6_000)
    assert TRACEBACK.splitlines()[1] in fitted.text
    start = fitted.text.index("Traceback (most recent call last):")
    assert fitted.text[start:].startswith("\n".join(TRACEBACK.splitlines()[1:]))


def test_dotnet_stack_frames_after_an_exception_are_kept() -> None:
    trace = [
        "2024-03-01 10:32:09 ERROR System.Net.Http.HttpRequestException: Connection refused (api.internal:8443)",
        "   at System.Net.Http.ConnectHelper.ConnectAsync(String host, Int32 port, CancellationToken token)",
        "   at System.Net.Http.HttpConnectionPool.ConnectAsync(HttpRequestMessage request, Boolean async)",
        "   at Contoso.Sync.Worker.RunAsync() in C:\\src\\Sync\\Worker.cs:line 57",
    ]
    fitted = fit_log("\n".join([*_info_lines(300), *trace, *_info_lines(300, start=300)]), 6_000)
    assert "\n".join(trace) in fitted.text


@pytest.mark.parametrize(
    "sample", [WINDOWS_EVENTS, SYSLOG, MSAL_LOG, SPOOLER_LOG], ids=["events", "syslog", "msal", "spooler"]
)
def test_error_lines_of_real_log_formats_survive_trimming(sample: str) -> None:
    log = "\n".join([*_info_lines(400), *sample.splitlines(), *_info_lines(400, start=400)])
    fitted = fit_log(log, 9_000)
    assert fitted.trimmed
    for line in sample.splitlines():
        if any(word in line.lower() for word in ("error", "fail", "warn", "denied", "timed out", "event id")):
            assert line in fitted.text


def test_very_long_lines_are_cut_to_1000_characters() -> None:
    lines = _info_lines(100)
    lines[50] = "ERROR payload=" + "A" * 5_000
    fitted = fit_log("\n".join(lines), 5_000)
    assert "ERROR payload=" + "A" * 986 + "… [4,014 more characters cut]" in fitted.text


def test_a_log_of_nothing_but_errors_is_hard_capped_to_the_budget() -> None:
    lines = [f"2024-03-01 10:00:{i % 60:02d} ERROR request {i} failed: timeout" for i in range(5_000)]
    fitted = fit_log("\n".join(lines), 4_000)
    assert len(fitted.text) <= 4_000
    assert fitted.text.startswith("[FlowPilot kept ")
    assert lines[0] in fitted.text and lines[-1] in fitted.text
    assert fitted.kept_lines < 5_000


def _generated_log(size: int) -> tuple[str, list[str]]:
    rnd = random.Random(42)
    lines: list[str] = []
    errors: list[str] = []
    total = 0
    while total < size:
        i = len(lines)
        if i % 500 == 250:
            line = f"2024-03-01 10:{i // 60 % 60:02d}:{i % 60:02d} ERROR job {i}: access denied 0x80070005"
            errors.append(line)
        else:
            line = f"2024-03-01 10:{i // 60 % 60:02d}:{i % 60:02d} INFO worker-{rnd.randint(1, 8)} processed batch {i}"
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines), errors


def test_a_2_mb_log_is_cut_to_the_budget_keeping_its_errors() -> None:
    log, errors = _generated_log(2 * 1024 * 1024)
    prepared = prepare_input(
        "Nightly job fails, full log attached", [text_file("job.log", log)], budget_chars=40_000
    )

    assert len(prepared.text) <= 40_000
    for line in errors:
        assert line in prepared.text
    assert prepared.text.count("lines left out] …") > 10
    total = len(log.split("\n"))
    (note,) = prepared.notes
    assert note.startswith("Trimmed job.log to ")
    assert note.endswith(f" of {total:,} lines (errors, warnings, first and last lines kept).")


def test_a_2_mb_paste_is_cut_with_a_note_about_the_message() -> None:
    log, errors = _generated_log(2 * 1024 * 1024)
    prepared = prepare_input(log, budget_chars=40_000)
    assert len(prepared.text) <= 40_000
    assert errors[0] in prepared.text and errors[-1] in prepared.text
    assert prepared.notes[0].startswith("Trimmed your message to ")


def test_several_large_files_share_the_budget() -> None:
    big = "\n".join(_info_lines(3_000))
    prepared = prepare_input(
        "three servers, same problem", [text_file(f"srv{i}.log", big) for i in range(3)], budget_chars=30_000
    )
    assert len(prepared.text) <= 30_000
    assert [n.split(" to ")[0] for n in prepared.notes] == [
        "Trimmed srv0.log",
        "Trimmed srv1.log",
        "Trimmed srv2.log",
    ]
    assert prepared.text.startswith("three servers, same problem\n\n")


@given(text=st.text(), budget=st.integers(min_value=-10, max_value=3_000))
@settings(max_examples=300)
def test_fit_log_never_exceeds_its_budget(text: str, budget: int) -> None:
    fitted = fit_log(text, budget)
    if fitted.trimmed:
        assert len(fitted.text) <= max(budget, 0)
        assert fitted.kept_lines <= fitted.total_lines
    else:
        assert fitted.text == text


ATTACHMENTS = st.builds(
    Attachment,
    filename=st.text(max_size=30) | st.sampled_from(["a.log", "b.png", "c.txt", "d.jpg"]),
    media_type=st.none()
    | st.sampled_from(["text/plain", "image/png", "image/jpeg", "application/octet-stream"])
    | st.text(max_size=20),
    data=st.binary(max_size=300)
    | st.sampled_from([PNG, JPEG, GIF, WEBP, codecs.BOM_UTF16_LE + "hi".encode("utf-16-le")])
    | st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


@given(
    text=st.text(),
    attachments=st.lists(ATTACHMENTS, max_size=7),
    psa=st.booleans(),
    budget=st.integers(-5, 5_000),
)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_prepare_input_only_ever_raises_intake_error(
    text: str, attachments: list[Attachment], psa: bool, budget: int
) -> None:
    try:
        prepared = prepare_input(text, attachments, psa_enabled=psa, budget_chars=budget)
    except IntakeError as err:
        assert err.message
        return
    assert len(prepared.images) <= 5
    assert prepared.redactions >= 0
    assert "\x00" not in prepared.text
    prepared.text.encode("utf-8")
