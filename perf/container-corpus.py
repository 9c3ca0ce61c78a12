#!/usr/bin/env python3
"""Wraps the files of a bench-corpus corpus into containers, for perf/containers.sh.

Each output object holds 2-8 leaves drawn from the corpus (the leaves keep their
planted signatures, so detections sit at every depth):
  zip      deflated zip, leaves in folders                     30 %
  nested   zip in a zip in a zip (depth 3), leaves at each     20 %
  targz    tar.gz                                              25 %
  mail     RFC 822 multipart, base64 attachments (sometimes a
           zip), a quoted-printable text body                  25 %
Only the Python standard library, so the same inputs come out on any machine.

usage: container-corpus.py LEAVES_DIR OUT_DIR COUNT [SEED]
"""
import email.message
import io
import os
import random
import sys
import tarfile
import zipfile


def leaves_of(root):
    out = []
    for d, _, files in os.walk(root):
        for f in sorted(files):
            if f != "manifest.tsv":
                out.append(os.path.join(d, f))
    out.sort()
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def make_zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def make_targz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_mail(rng, members):
    msg = email.message.EmailMessage()
    msg["From"] = "sender@example.com"
    msg["To"] = "rcpt@example.com"
    msg["Subject"] = "invoice %d" % rng.randrange(100000)
    msg.set_content("Please find the documents attached.\n" * 20, cte="quoted-printable")
    for name, data in members:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def main():
    leaves_dir, out_dir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    leaves = leaves_of(leaves_dir)
    os.makedirs(out_dir, exist_ok=True)

    def pick(n):
        return [("dir%d/%s" % (i, os.path.basename(p)), read(p)) for i, p in enumerate(rng.sample(leaves, n))]

    for i in range(count):
        r = rng.random()
        if r < 0.30:
            name, data = "zip-%05d.zip" % i, make_zip(pick(rng.randint(2, 8)))
        elif r < 0.50:
            inner = make_zip(pick(2))
            middle = make_zip(pick(1) + [("inner.zip", inner)])
            name, data = "nested-%05d.zip" % i, make_zip(pick(1) + [("middle.zip", middle)])
        elif r < 0.75:
            name, data = "targz-%05d.tar.gz" % i, make_targz(pick(rng.randint(2, 8)))
        else:
            members = pick(rng.randint(1, 3))
            if rng.random() < 0.3:
                members.append(("docs.zip", make_zip(pick(2))))
            name, data = "mail-%05d.eml" % i, make_mail(rng, members)
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
