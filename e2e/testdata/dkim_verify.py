"""Verifies every DKIM signature of the message on stdin with dkimpy
(Debian's python3-dkim), an implementation independent of sendpool's.
Keys are looked up in the sandbox DNS server given as HOST:PORT, through
dnsfunc. Prints one JSON object per signature: its s=, a=, d= and whether
it verified."""
import json
import sys

import dkim
import dns.exception
import dns.resolver


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [host]
    res.port = int(port)
    res.lifetime = 5

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        try:
            ans = res.resolve(name, "TXT", raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        for rrset in ans.response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                # The strings of one record joined (RFC 6376 §3.6.2.2).
                return b"".join(list(rrset.items)[0].strings)
        return None

    msg = sys.stdin.buffer.read()
    d = dkim.DKIM(msg)
    out = []
    n = sum(1 for h in d.headers if h[0].lower() == b"dkim-signature")
    for i in range(n):
        sig = dkim.util.parse_tag_value(
            [h for h in d.headers if h[0].lower() == b"dkim-signature"][i][1])
        err = ""
        try:
            ok = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:  # as dkim.verify does: a failure
            ok, err = False, str(e)
        out.append({
            "s": sig[b"s"].decode(),
            "a": sig[b"a"].decode(),
            "d": sig[b"d"].decode(),
            "ok": bool(ok),
            "err": err,
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
