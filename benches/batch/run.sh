#!/usr/bin/env bash
# imapmig batch --jobs 4 against one imapmig migrate per mailbox run one after another, on the
# same pair of Dovecot servers in the same run. Seeds a source with MAILBOXES users (default
# 100) of MESSAGES messages each (default 200, 2-10 KB, 3 folders), then for each way starts
# from an empty target and times one full copy of every mailbox. Prints messages/s for both,
# the ratio, and the batch process's peak RSS (GNU time). Needs: dovecot, doveadm, python3,
# cargo, /usr/bin/time.
#
#   benches/batch/run.sh                    # 100 mailboxes x 200 messages, --jobs 4
#   MAILBOXES=20 MESSAGES=100 benches/batch/run.sh
set -euo pipefail

MAILBOXES=${MAILBOXES:-100}
MESSAGES=${MESSAGES:-200}
JOBS=${JOBS:-4}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/imapmig-batch-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT

USERS=()
for i in $(seq 0 $((MAILBOXES - 1))); do USERS+=("$(printf 'u%03d' "$i")"); done

. "$ROOT/benches/dovecot.sh"
# Many logins at once: keep login processes ready and allow many clients.
DOVECOT_LOGIN_EXTRA='  process_min_avail = 4'
DOVECOT_EXTRA='service imap {
  process_limit = 1024
}
default_client_limit = 2048'

count() { # count NAME: message files in every user's maildirs of that server
    find "$WORK/$1/mail" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | grep -c . || true
}

echo "building imapmig (release)..." >&2
cargo build --quiet --release -p imapmig-cli --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/imapmig"

SRC_PORT=$(free_port)
start_dovecot src "$SRC_PORT"
echo "seeding $MAILBOXES mailboxes x $MESSAGES messages..." >&2
python3 - "$WORK/src/mail" "$MESSAGES" "${USERS[@]}" <<'EOPY'
import os, random, sys, time
root, n, users = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
random.seed(42)
names = ["INBOX", "Work", "Lists/News"]
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau".split()
t0 = 1_600_000_000
for user in users:
    for name in names:
        d = os.path.join(root, user) if name == "INBOX" else os.path.join(root, user, name)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i in range(n):
        name = names[i % len(names)]
        d = os.path.join(root, user) if name == "INBOX" else os.path.join(root, user, name)
        size = random.randint(2000, 10000)
        body = []
        while sum(len(l) + 2 for l in body) < size:
            body.append(" ".join(random.choice(words) for _ in range(12)))
        # Dates out of UID order; every seventh message without a Message-ID.
        date = t0 + ((i * 7919) % n) * 3600
        mid = "" if i % 7 == 3 else f"Message-ID: <bench-{user}-{i}@example.com>\r\n"
        msg = (f"From: sender{i % 97}@example.com\r\nTo: {user}@example.org\r\n"
               f"Subject: bench message {i}\r\n{mid}"
               f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date))}\r\n"
               "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + "\r\n".join(body) + "\r\n")
        path = os.path.join(d, "cur", f"{t0 + i}.M{i}P1.bench:2,S")
        with open(path, "w", newline="") as f:
            f.write(msg)
        os.utime(path, (date, date))
EOPY
chown -R nobody:nogroup "$WORK/src/mail"
SEEDED=$(count src)
echo "source holds $SEEDED messages" >&2

now() { python3 -c 'import time; print(time.monotonic())'; }

# imapmig batch --jobs N (file state), under GNU time for the peak RSS.
DST_PORT=$(free_port)
start_dovecot dst1 "$DST_PORT"
{
    echo "source,target,source_secret,target_secret"
    for u in "${USERS[@]}"; do
        echo "imap://$u@127.0.0.1:$SRC_PORT,imap://$u@127.0.0.1:$DST_PORT,env:BENCH_PW,env:BENCH_PW"
    done
} > "$WORK/mailboxes.csv"
t0=$(now)
BENCH_PW=secret /usr/bin/time -v -o "$WORK/time.txt" "$BIN" batch --csv "$WORK/mailboxes.csv" \
    --state "$WORK/batch-state" --jobs "$JOBS" 2>"$WORK/batch.err" | tail -1 >&2
t1=$(now)
BATCH_N=$(count dst1)
RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")

# The same mailboxes with one imapmig migrate each, one after another.
DST2_PORT=$(free_port)
start_dovecot dst2 "$DST2_PORT"
t2=$(now)
for u in "${USERS[@]}"; do
    IMAPMIG_SOURCE_PASSWORD=secret IMAPMIG_TARGET_PASSWORD=secret "$BIN" migrate \
        --source "imap://$u@127.0.0.1:$SRC_PORT" --target "imap://$u@127.0.0.1:$DST2_PORT" \
        --state "$WORK/seq-state/$u" >/dev/null
done
t3=$(now)
SEQ_N=$(count dst2)

python3 - "$SEEDED" "$BATCH_N" "$t0" "$t1" "$SEQ_N" "$t2" "$t3" "$RSS" "$MAILBOXES" "$JOBS" <<'EOPY'
import sys
seeded, a, t0, t1, b, t2, t3, rss, boxes, jobs = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:5]), int(sys.argv[5]), *map(float, sys.argv[6:8]), int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
ra, rb = a / (t1 - t0), b / (t3 - t2)
print(f"source: {boxes} mailboxes, {seeded} messages")
print(f"batch --jobs {jobs}: {a} messages in {t1 - t0:.2f} s = {ra:.0f} msgs/s; peak RSS {rss} KiB")
print(f"{boxes} x migrate, sequential: {b} messages in {t3 - t2:.2f} s = {rb:.0f} msgs/s")
print(f"ratio batch/sequential: {ra / rb:.2f}x")
if a != seeded or b != seeded:
    print("WARNING: a run did not copy every message", file=sys.stderr)
    sys.exit(1)
EOPY
