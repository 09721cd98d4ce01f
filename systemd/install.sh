#!/bin/sh
# Installs the charge-point stack from this checkout as a systemd service (README "Install on a board").
#
#   sudo sh systemd/install.sh          (what `sudo make install` runs)
#
# Environment:
#   PREFIX            where the virtual environment and README go (default /opt/chargepoint)
#   DESTDIR           a staging root prepended to every installed path (default empty). For tests on this
#                     machine: the venv's scripts name their interpreter by its full path, so a staged venv
#                     runs from $DESTDIR$PREFIX only, and nothing is registered with systemd.
#   PYTHON            the interpreter for the venv, 3.11 or later (default python3)
#   VENV_ARGS         extra `python -m venv` arguments (e.g. --system-site-packages)
#   INSTALL_PIP_ARGS  extra `pip install` arguments (e.g. --no-deps, or --index-url URL for a local mirror)
#
# Re-running it updates the installation: the package is reinstalled into the same venv, the unit and the
# sysusers file are replaced, and an existing /etc/chargepoint/chargepoint.toml is never touched.
set -eu

DEFAULT_PREFIX=/opt/chargepoint
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-$DEFAULT_PREFIX}
PYTHON=${PYTHON:-python3}
VENV_ARGS=${VENV_ARGS:-}
INSTALL_PIP_ARGS=${INSTALL_PIP_ARGS:-}

die() {
    echo "install.sh: error: $*" >&2
    exit 1
}

say() {
    echo "install.sh: $*"
}

case "${1:-}" in
    -h|--help)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    "") ;;
    *) die "unknown argument '$1' (settings are environment variables, see --help)" ;;
esac

# The checkout is the directory above this script, wherever it was copied or cloned.
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$CHECKOUT/pyproject.toml" ] || [ ! -f "$CHECKOUT/systemd/chargepoint.service" ]; then
    die "$CHECKOUT does not look like a chargepoint checkout (no pyproject.toml or systemd/chargepoint.service)"
fi

# PREFIX ends up in the unit's ExecStart= and in a sed replacement: keep it a plain absolute path.
case "$PREFIX" in
    /*) ;;
    *) die "PREFIX must be an absolute path, not '$PREFIX'" ;;
esac
case "$PREFIX" in
    *[!A-Za-z0-9._/+-]*) die "PREFIX may contain only letters, digits and . _ / + - (got '$PREFIX')" ;;
esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || die "PREFIX must not be /"

# Python 3.11+ with a working venv module (Debian and Ubuntu ship ensurepip separately, in python3-venv).
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3.11 or later (Debian: apt install python3)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$("$PYTHON" -c 'import sys; print(sys.version.split()[0])') is too old: chargepoint needs Python 3.11 or later"
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || die "the Python venv module is missing (Debian/Ubuntu: apt install python3-venv)"

VENV=$DESTDIR$PREFIX/venv
UNIT_DIR=$DESTDIR/etc/systemd/system
SYSUSERS_DIR=$DESTDIR/usr/lib/sysusers.d
CONFIG_DIR=$DESTDIR/etc/chargepoint
CONFIG=$CONFIG_DIR/chargepoint.toml

# 1. The virtual environment and the package (with its dependencies unless INSTALL_PIP_ARGS says otherwise).
say "creating the virtual environment $VENV"
mkdir -p "$DESTDIR$PREFIX"
# shellcheck disable=SC2086  # VENV_ARGS is a list of arguments
"$PYTHON" -m venv $VENV_ARGS "$VENV"
say "installing chargepoint from $CHECKOUT"
# pip builds in the checkout; remove what the build leaves there unless it was there before.
had_build=no
had_egg=no
[ -e "$CHECKOUT/build" ] && had_build=yes
[ -e "$CHECKOUT/chargepoint.egg-info" ] && had_egg=yes
# shellcheck disable=SC2086  # INSTALL_PIP_ARGS is a list of arguments
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir $INSTALL_PIP_ARGS "$CHECKOUT"
[ "$had_build" = yes ] || rm -rf "$CHECKOUT/build"
[ "$had_egg" = yes ] || rm -rf "$CHECKOUT/chargepoint.egg-info"
[ -x "$VENV/bin/chargepoint" ] || die "pip did not install $VENV/bin/chargepoint"

# 2. The unit, pointing at this PREFIX (the file in the checkout names the default one).
say "installing $UNIT_DIR/chargepoint.service"
mkdir -p "$UNIT_DIR"
sed -e "/^ExecStart=/s#$DEFAULT_PREFIX/#$PREFIX/#" -e "/^Documentation=/s#$DEFAULT_PREFIX/#$PREFIX/#" \
    "$CHECKOUT/systemd/chargepoint.service" > "$UNIT_DIR/chargepoint.service.tmp"
chmod 0644 "$UNIT_DIR/chargepoint.service.tmp"
mv -f "$UNIT_DIR/chargepoint.service.tmp" "$UNIT_DIR/chargepoint.service"

# 3. The service user and its device groups.
say "installing $SYSUSERS_DIR/chargepoint.conf"
mkdir -p "$SYSUSERS_DIR"
cp "$CHECKOUT/systemd/chargepoint.sysusers" "$SYSUSERS_DIR/chargepoint.conf.tmp"
chmod 0644 "$SYSUSERS_DIR/chargepoint.conf.tmp"
mv -f "$SYSUSERS_DIR/chargepoint.conf.tmp" "$SYSUSERS_DIR/chargepoint.conf"

# The GPIO chips to the gpio group (udev rule).
RULES_DIR=$DESTDIR/etc/udev/rules.d
say "installing $RULES_DIR/60-chargepoint-gpio.rules"
mkdir -p "$RULES_DIR"
cp "$CHECKOUT/systemd/60-chargepoint-gpio.rules" "$RULES_DIR/60-chargepoint-gpio.rules.tmp"
chmod 0644 "$RULES_DIR/60-chargepoint-gpio.rules.tmp"
mv -f "$RULES_DIR/60-chargepoint-gpio.rules.tmp" "$RULES_DIR/60-chargepoint-gpio.rules"

# Registering with the system happens only for a real install (no DESTDIR) by root.
live=no
if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then
    live=yes
fi
if [ "$live" = yes ]; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        say "creating the user chargepoint and its groups (systemd-sysusers)"
        systemd-sysusers "$SYSUSERS_DIR/chargepoint.conf"
        if command -v udevadm >/dev/null 2>&1; then
            udevadm control --reload-rules || true
            udevadm trigger --subsystem-match=gpio || true
        fi
    else
        say "warning: systemd-sysusers not found; create the user by hand:"
        say "  useradd --system --home-dir /var/lib/chargepoint --shell /usr/sbin/nologin --groups dialout,input chargepoint"
    fi
fi

group_exists() {
    if command -v getent >/dev/null 2>&1; then
        getent group "$1" >/dev/null 2>&1
    else
        grep -q "^$1:" /etc/group 2>/dev/null
    fi
}

# 4. The config: the hardware example, only when there is none. An installer's config is never replaced.
mkdir -p "$CONFIG_DIR"
if [ -e "$CONFIG" ]; then
    say "keeping the existing $CONFIG"
else
    say "installing the example config as $CONFIG (edit it before starting the service)"
    # It holds the CSMS password: readable by root and the service's group only.
    (umask 077 && cp "$CHECKOUT/docs/chargepoint.hardware.example.toml" "$CONFIG.tmp")
    chmod 0640 "$CONFIG.tmp"
    if [ "$(id -u)" = 0 ] && group_exists chargepoint; then
        chgrp chargepoint "$CONFIG.tmp"
    fi
    mv "$CONFIG.tmp" "$CONFIG"
fi

# 5. The README the unit's Documentation= points at.
cp "$CHECKOUT/README.md" "$DESTDIR$PREFIX/README.md.tmp"
chmod 0644 "$DESTDIR$PREFIX/README.md.tmp"
mv -f "$DESTDIR$PREFIX/README.md.tmp" "$DESTDIR$PREFIX/README.md"

# 6. Tell a running systemd about the new or changed unit.
if [ "$live" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    say "reloading systemd"
    systemctl daemon-reload
elif [ "$live" = yes ]; then
    say "systemd is not running here: run 'systemctl daemon-reload' on the booted board"
fi

say "installed. Next, check the config as the service user, then enable and start the service:"
echo "  sudo -u chargepoint $PREFIX/venv/bin/chargepoint check-config --config /etc/chargepoint/chargepoint.toml"
echo "  sudo systemctl enable --now chargepoint"
