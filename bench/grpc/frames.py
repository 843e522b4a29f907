#!/usr/bin/python3
"""Write, for each client of the bench, the gRPC frame of its
pgbank.v1.TransferRequest (1 cent from its account to its partner's, in
USD) as DIR/transfer-K.bin, for h2load -d. Reads "token<TAB>account_id"
lines (client 1 first) on stdin; client k pays client k + N. The message is
encoded by hand (fields 1-4 of proto/pgbank/v1/bank.proto's TransferRequest),
so the bench needs no generated code. Usage: frames.py DIR N"""
import struct
import sys


def varint(n):
    out = b""
    while True:
        b, n = n & 0x7f, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def main():
    out_dir, n = sys.argv[1], int(sys.argv[2])
    rows = [line.rstrip("\n").split("\t") for line in sys.stdin if line.strip()]
    for k in range(n):
        frm, to = int(rows[k][1]), int(rows[k + n][1])
        msg = b"\x08" + varint(frm) + b"\x10" + varint(to) + b"\x18" + varint(1) + b"\x22\x03USD"
        with open(f"{out_dir}/transfer-{k + 1}.bin", "wb") as f:
            f.write(b"\x00" + struct.pack(">I", len(msg)) + msg)
        with open(f"{out_dir}/token-{k + 1}", "w") as f:
            f.write(rows[k][0])


if __name__ == "__main__":
    main()
