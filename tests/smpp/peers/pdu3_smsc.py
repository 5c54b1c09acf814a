"""A tiny SMSC built on smpp.pdu3's PDU classes and encoder (Jasmin's codec), for interop tests only.

Run as `python -S tests/smpp/peers/pdu3_smsc.py PEERS_DIR`: smpp.pdu3 installs a top-level package named
`smpp`, like ours, so it lives apart (.venv/peers) and runs in its own interpreter. Listens on a free
loopback port and prints {"port": N}; then serves one ESME: answers any bind (system_id "pdu3smsc"),
answers each submit_sm with message_id "pdu3-<n>" and follows it with a delivery receipt deliver_sm,
answers enquire_link and unbind. Every PDU it reads is reported as one JSON line on stdout.
Nothing of our code is imported here.
"""

import io
import json
import socket
import sys

sys.path.insert(0, sys.argv[1])

from smpp.pdu import operations as op
from smpp.pdu import pdu_types as t
from smpp.pdu.pdu_encoding import PDUEncoder

encoder = PDUEncoder()
BIND_RESPONSES = {
    "bind_transmitter": op.BindTransmitterResp,
    "bind_receiver": op.BindReceiverResp,
    "bind_transceiver": op.BindTransceiverResp,
}


def report(**fields):
    print(json.dumps(fields), flush=True)


def text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def read_exact(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(conn):
    submitted = 0
    while True:
        header = read_exact(conn, 4)
        frame = header + read_exact(conn, int.from_bytes(header, "big") - 4)
        pdu = encoder.decode(io.BytesIO(frame))
        name = str(pdu.id.name)
        params = {k: text(v) for k, v in pdu.params.items() if v is not None}
        report(event=name, sequence_number=pdu.seqNum, status=int(frame[8:12].hex(), 16), params=params)
        out = []
        if name in BIND_RESPONSES:
            out.append(BIND_RESPONSES[name](pdu.seqNum, system_id="pdu3smsc"))
        elif name == "submit_sm":
            submitted += 1
            message_id = f"pdu3-{submitted}"
            out.append(op.SubmitSMResp(pdu.seqNum, message_id=message_id))
            out.append(
                op.DeliverSM(
                    1000 + submitted,
                    source_addr=pdu.params["destination_addr"],
                    destination_addr=pdu.params["source_addr"],
                    esm_class=t.EsmClass(t.EsmClassMode.DEFAULT, t.EsmClassType.SMSC_DELIVERY_RECEIPT),
                    short_message=f"id:{message_id} sub:001 dlvrd:001 stat:DELIVRD err:000 text:".encode(),
                    receipted_message_id=message_id,
                    message_state=t.MessageState.DELIVERED,
                )
            )
        elif name == "enquire_link":
            out.append(op.EnquireLinkResp(pdu.seqNum))
        elif name == "unbind":
            conn.sendall(encoder.encode(op.UnbindResp(pdu.seqNum)))
            return
        if out:
            conn.sendall(b"".join(encoder.encode(p) for p in out))


def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(30)
    report(port=listener.getsockname()[1])
    conn, _ = listener.accept()
    conn.settimeout(30)
    try:
        serve(conn)
    except EOFError:
        report(event="eof")
    finally:
        conn.close()
        listener.close()


main()
