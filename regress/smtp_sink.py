"""An aiosmtpd handler for the end-to-end tests: every message it accepts
is written, as received, to its own file in a directory.

    PYTHONPATH=regress /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:PORT \
        -c smtp_sink.Sink DIRECTORY

Files are named <ns>-<n>.eml and written to a temporary name first, so a
reader never sees half a message. The envelope recipients come first, as
"X-Envelope-To:" lines. Each message is also announced on standard output.
"""
import os
import time


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        os.makedirs(directory, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Sink needs one argument: the directory")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "%d-%d.eml" % (time.time_ns(), self.count)
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "wb") as f:
            for rcpt in envelope.rcpt_tos:
                f.write(b"X-Envelope-To: " + rcpt.encode() + b"\r\n")
            data = envelope.original_content or envelope.content
            f.write(data if isinstance(data, bytes) else data.encode())
        os.rename(tmp, os.path.join(self.directory, name))
        # One line per message, so `docker compose logs smtp-sink` shows them.
        print("smtp_sink: %s for %s" % (name, ", ".join(envelope.rcpt_tos)), flush=True)
        return "250 Message accepted for delivery"
