# Sourced by the bench scripts: free ports and Dovecot servers like testkit's.
# Needs WORK (a temp dir) and PIDS (an array the script kills on exit).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_dovecot NAME PORT: a slash-layout Dovecot like testkit's in $WORK/NAME, with every
# user of the array USERS (default: test), password "secret". DOVECOT_LOGIN_EXTRA goes into
# the imap-login service block, DOVECOT_EXTRA at the end of the configuration.
start_dovecot() {
    local d="$WORK/$1" port=$2
    mkdir -p "$d/mail" "$d/base" "$d/state"
    chmod 755 "$d"
    : > "$d/passwd"
    local u
    for u in "${USERS[@]:-test}"; do echo "$u:{PLAIN}secret::::::" >> "$d/passwd"; done
    cat > "$d/dovecot.conf" <<EOC
base_dir = $d/base
state_dir = $d/state
log_path = $d/log
instance_name = bench-$1-$port
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:$d/mail/%u:LAYOUT=fs
namespace inbox {
  inbox = yes
  separator = /
  prefix =
}
passdb {
  driver = passwd-file
  args = $d/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$d/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
${DOVECOT_LOGIN_EXTRA:-}
}
${DOVECOT_EXTRA:-}
EOC
    chown -R nobody:nogroup "$d/mail"
    dovecot -F -c "$d/dovecot.conf" &
    PIDS+=($!)
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "dovecot $1 did not start" >&2; cat "$d/log" >&2; exit 1
}
