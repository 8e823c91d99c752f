# Sourced by the ssh integration scripts (after lib.sh): a real OpenSSH sshd on 127.0.0.1 with
# its own config, host key and a throw-away user whose ~/.ssh/authorized_keys it really reads.
# Needs root (useradd, sudoers drop-in for privileged steps); sshd_require prints a skip else.

# sshd_require NAME: skips (and exits) when the host cannot run these tests.
sshd_require() {
	local why=""
	[ "$(id -u)" -eq 0 ] || why="needs root (useradd, sshd)"
	[ -x /usr/sbin/sshd ] || why="no /usr/sbin/sshd (Debian openssh-server)"
	command -v sudo >/dev/null || why="no sudo (Debian sudo)"
	command -v useradd >/dev/null || why="no useradd"
	if [ -n "$why" ]; then
		skip "$1" "$why"
		finish
	fi
}

# sshd_up NAME: what a suite against one sshd needs first: the skip (sshd_require NAME), the
# test user, the config and sshd running; a failure is a not-ok line and the end of the script.
sshd_up() {
	sshd_require "$1"
	sshd_user || { not_ok "create a test user"; finish; }
	sshd_config
	sshd_start || { not_ok "start sshd"; finish; }
}

# sshd_trust_key FILE COMMENT: a new ed25519 key pair FILE and FILE.pub that the test user
# trusts.
sshd_trust_key() {
	ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1"
	cat "$1.pub" >>"$SSH_HOME/.ssh/authorized_keys"
}

# sshd_user: creates $SSH_USER with home $SSH_HOME, trusting the insecure Vagrant key.
sshd_user() {
	SSH_USER="envupt$$$RANDOM"
	SSH_USER=${SSH_USER:0:30}
	SSH_HOME="$T/home"
	chmod 711 "$T"
	# Another test run may hold the passwd lock for a moment.
	for _ in 1 2 3 4 5; do
		useradd -M -d "$SSH_HOME" -s /bin/bash -p '*' "$SSH_USER" 2>"$T/useradd.err" && break
		sleep 1
	done
	id "$SSH_USER" >/dev/null 2>&1 || { cat "$T/useradd.err"; return 1; }
	at_exit "userdel $SSH_USER 2>/dev/null"
	echo "$SSH_USER ALL=(ALL) NOPASSWD:ALL" >"/etc/sudoers.d/envup-test-$SSH_USER"
	chmod 0440 "/etc/sudoers.d/envup-test-$SSH_USER"
	at_exit "rm -f /etc/sudoers.d/envup-test-$SSH_USER"
	mkdir -p "$SSH_HOME/.ssh"
	cp "$ENVUP_SRC/data/keys/vagrant.pub" "$SSH_HOME/.ssh/authorized_keys"
	chmod 700 "$SSH_HOME/.ssh"
	chmod 600 "$SSH_HOME/.ssh/authorized_keys"
	chown -R "$SSH_USER:" "$SSH_HOME"
	chmod 755 "$SSH_HOME"
}

# sshd_config [TYPE]: writes $T/sshd/sshd_config for $SSH_PORT and a fresh host key of TYPE
# (default ed25519).
sshd_config() {
	local type=${1:-ed25519}
	SSHD_DIR="$T/sshd"
	SSH_PORT=${SSH_PORT:-$(free_port)}
	mkdir -p "$SSHD_DIR" /run/sshd
	rm -f "$SSHD_DIR/host_key" "$SSHD_DIR/host_key.pub"
	ssh-keygen -q -t "$type" -N '' -f "$SSHD_DIR/host_key" >/dev/null
	cat >"$SSHD_DIR/sshd_config" <<CFG
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_key
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers $SSH_USER
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
StrictModes yes
Subsystem sftp internal-sftp
CFG
}

# sshd_start [DELAY]: runs sshd in the background (after DELAY seconds); without a delay it
# returns once the port answers.
sshd_start() {
	local delay=${1:-0}
	(sleep "$delay"; exec /usr/sbin/sshd -D -e -f "$SSHD_DIR/sshd_config") \
		>>"$SSHD_DIR/log" 2>&1 &
	SSHD_PID=$!
	at_exit "kill $SSHD_PID 2>/dev/null; wait $SSHD_PID 2>/dev/null"
	[ "$delay" = 0 ] || return 0
	for _ in $(seq 100); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1',$SSH_PORT),1)" \
			2>/dev/null && return 0
		sleep 0.1
	done
	echo "sshd did not start:"; cat "$SSHD_DIR/log"
	return 1
}

sshd_stop() {
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	return 0
}
