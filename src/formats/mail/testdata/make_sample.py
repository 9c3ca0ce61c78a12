# Generates sample.eml for mail/tests.rs (run: python3 make_sample.py > sample.eml).
# A multipart/mixed message: a quoted-printable text body with a uuencoded block in
# it, a base64 attachment eicar.com, and a nested message/rfc822 with its own
# base64 attachment.
import binascii
from email.message import EmailMessage
from email.policy import SMTP
from email import charset

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

def uu(name, data):
    lines = [f"begin 644 {name}"]
    for i in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[i:i + 45], backtick=True).decode().rstrip("\n"))
    lines += ["`", "end"]
    return "\n".join(lines)

inner = EmailMessage()
inner["From"] = "inner@example.com"
inner["Subject"] = "inner"
inner.set_content("inner body\n")
inner.add_attachment(b"inner attachment bytes\x00\x01", maintype="application",
                     subtype="octet-stream", filename="inner.bin")

msg = EmailMessage()
msg["From"] = "a@example.com"
msg["To"] = "b@example.com"
msg["Subject"] = "sample"
body = "Caf\u00e9 na\u00efve = equals, a long line " + "x" * 80 + "\n" + uu("payload.bin", b"uu payload\n" * 10) + "\ntrailer\n"
msg.set_content(body, charset="utf-8", cte="quoted-printable")
msg.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="eicar.com")
msg.add_attachment(inner)
print(msg.as_bytes(policy=SMTP).decode(), end="")
