#!/usr/bin/env bash
# imapmig migrate against mbsync (isync), IMAP to IMAP, on the same pair of Dovecot servers in
# the same run. Seeds a source with MESSAGES messages (default 10000, 2-10 KB each) across
# FOLDERS folders, then for each tool starts from an empty target and times one full copy.
# Prints messages/s for both and the ratio. Needs: dovecot, doveadm, mbsync, python3, cargo.
#
#   benches/mbsync/run.sh            # 10,000 messages, 5 folders
#   MESSAGES=2000 benches/mbsync/run.sh
set -euo pipefail

MESSAGES=${MESSAGES:-10000}
FOLDERS=${FOLDERS:-5}
PARALLEL=${PARALLEL:-4}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/imapmig-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT

. "$ROOT/benches/dovecot.sh"

count() { # count NAME: messages in every folder of that server
    doveadm -c "$WORK/$1/dovecot.conf" mailbox status -u test messages '*' | awk -F= '{s+=$2} END {print s+0}'
}

echo "building imapmig (release)..." >&2
cargo build --quiet --release -p imapmig-cli --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/imapmig"

SRC_PORT=$(free_port)
start_dovecot src "$SRC_PORT"
echo "seeding $MESSAGES messages in $FOLDERS folders..." >&2
python3 - "$WORK/src/mail/test" "$MESSAGES" "$FOLDERS" <<'EOPY'
import os, random, sys, time
root, n, folders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(42)
names = ["INBOX"] + [f"Folder{i}" for i in range(1, folders)]
for name in names:
    d = root if name == "INBOX" else os.path.join(root, name)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau".split()
t0 = 1_600_000_000
for i in range(n):
    name = names[i % len(names)]
    d = root if name == "INBOX" else os.path.join(root, name)
    size = random.randint(2000, 10000)
    body = []
    while sum(len(l) + 2 for l in body) < size:
        body.append(" ".join(random.choice(words) for _ in range(12)))
    date = t0 + i * 3600
    msg = (f"From: sender{i % 97}@example.com\r\nTo: test@example.org\r\n"
           f"Subject: bench message {i}\r\nMessage-ID: <bench-{i}@example.com>\r\n"
           f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date))}\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + "\r\n".join(body) + "\r\n")
    path = os.path.join(d, "cur", f"{date}.M{i}P1.bench:2,S")
    with open(path, "w", newline="") as f:
        f.write(msg)
    os.utime(path, (date, date))
EOPY
chown -R nobody:nogroup "$WORK/src/mail"
doveadm -c "$WORK/src/dovecot.conf" index -u test '*' >/dev/null 2>&1 || true
SEEDED=$(count src)
echo "source holds $SEEDED messages" >&2

now() { python3 -c 'import time; print(time.monotonic())'; }

# imapmig
DST_PORT=$(free_port)
start_dovecot dst1 "$DST_PORT"
t0=$(now)
IMAPMIG_SOURCE_PASSWORD=secret IMAPMIG_TARGET_PASSWORD=secret "$BIN" migrate \
    --source "imap://test@127.0.0.1:$SRC_PORT" --target "imap://test@127.0.0.1:$DST_PORT" \
    --state "$WORK/state" --parallel "$PARALLEL" | tail -1 >&2
t1=$(now)
IMAPMIG_N=$(count dst1)

# mbsync
DST2_PORT=$(free_port)
start_dovecot dst2 "$DST2_PORT"
mkdir -p "$WORK/mbsync-state"
cat > "$WORK/mbsyncrc" <<EOM
IMAPAccount src
Host 127.0.0.1
Port $SRC_PORT
User test
Pass secret
SSLType None
AuthMechs LOGIN

IMAPStore src
Account src

IMAPAccount dst
Host 127.0.0.1
Port $DST2_PORT
User test
Pass secret
SSLType None
AuthMechs LOGIN

IMAPStore dst
Account dst

Channel bench
Far :src:
Near :dst:
Patterns *
Create Near
Sync Pull
Expunge None
CopyArrivalDate yes
SyncState $WORK/mbsync-state/
EOM
t2=$(now)
mbsync -q -c "$WORK/mbsyncrc" bench
t3=$(now)
MBSYNC_N=$(count dst2)

python3 - "$SEEDED" "$IMAPMIG_N" "$t0" "$t1" "$MBSYNC_N" "$t2" "$t3" <<'EOPY'
import sys
seeded, a, t0, t1, b, t2, t3 = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:5]), int(sys.argv[5]), *map(float, sys.argv[6:8])
ra, rb = a / (t1 - t0), b / (t3 - t2)
print(f"source messages: {seeded}")
print(f"imapmig: {a} messages in {t1 - t0:.2f} s = {ra:.0f} msgs/s")
print(f"mbsync:  {b} messages in {t3 - t2:.2f} s = {rb:.0f} msgs/s")
print(f"ratio imapmig/mbsync: {ra / rb:.2f}x")
if a != seeded or b != seeded:
    print("WARNING: a tool did not copy every message", file=sys.stderr)
    sys.exit(1)
EOPY
