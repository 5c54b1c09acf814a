"""Decode PDUs with smpp.pdu3 (Jasmin's codec), an implementation independent of ours.

Run as `python -S tests/smpp/pdu3_oracle.py PEERS_DIR`: smpp.pdu3 installs a top-level package named
`smpp`, like ours, so it lives apart (.venv/peers) and is loaded only in this separate interpreter.
Reads one hex PDU per line on stdin; writes one JSON object per line: the header, and each field as
the hex of smpp.pdu3's own re-encoding of the value it decoded (so enums and parsed dates come back as
wire bytes), or {"error": ...}.
"""

import io
import json
import sys

sys.path.insert(0, sys.argv[1])

from smpp.pdu import pdu_encoding

encoder = pdu_encoding.PDUEncoder()
results = sys.stdout
sys.stdout = sys.stderr  # smpp.pdu3 prints debug output ('+' when it parses a relative time)

for line in sys.stdin:
    frame = bytes.fromhex(line.strip())
    try:
        pdu = encoder.decode(io.BytesIO(frame))
        fields = {}
        field_encoders = encoder.getRequiredParamEncoders(pdu)
        for name in pdu.mandatoryParams:
            value = pdu.params.get(name)
            if value is None:
                fields[name] = None
            elif name == "short_message":
                fields[name] = value.hex()
            else:
                fields[name] = field_encoders[name].encode(value).hex()
        options = {}
        for name, value in pdu.params.items():
            if name in pdu.mandatoryParams:
                continue
            tag = getattr(pdu_encoding.pdu_types.Tag, name)
            if isinstance(value, bytes):  # octet strings, and C-strings without their NUL
                options[str(int.from_bytes(pdu_encoding.TagEncoder().encode(tag), "big"))] = value.hex()
            else:  # integers and enums: smpp.pdu3's own wire form
                raw = encoder.optionEncoder.encode(pdu_encoding.pdu_types.Option(tag, value))
                options[str(int.from_bytes(raw[:2], "big"))] = raw[4:].hex()
        out = {
            "command_id": int(pdu_encoding.CommandIdEncoder().encode(pdu.id).hex(), 16),
            "sequence_number": pdu.seqNum,
            "command_status": int(pdu_encoding.CommandStatusEncoder().encode(pdu.status).hex(), 16),
            "fields": fields,
            "options": options,
        }
    except Exception as exc:  # the oracle reports, the test decides
        out = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out), file=results, flush=True)
