#!/usr/bin/env bash
# slow: builds a release tree from scratch (about 3 minutes on 2 cores)
# One `make demo` on a fresh machine: the packages that deps installs are seen by the build
# that follows it. Simulated in a copy of the checkout: pkg-config answers nothing and the
# libdeflate header is absent until the deps step "installs" them (DEPS_SCRIPT), exactly the
# order a fresh Debian goes through; envvmm and envctl must then link with every library.
source "$(dirname "$0")/lib.sh"
tree=$T/tree
mkdir -p "$tree" "$T/inc"
(cd "$ENVUP_SRC" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tree")
cat >"$T/pkg-config" <<SH
#!/bin/sh
[ -e "$T/installed" ] || exit 1
exec pkg-config "\$@"
SH
cat >"$T/deps" <<SH
#!/bin/sh
touch "$T/installed"
ln -sf /usr/include/libdeflate.h "$T/inc/libdeflate.h"
SH
chmod +x "$T/pkg-config" "$T/deps"
if make -C "$tree" -j2 PKG_CONFIG="$T/pkg-config" DEPS_SCRIPT="$T/deps" DEMO_SCRIPT=true \
	LIBDEFLATE_H="$T/inc/libdeflate.h" demo >"$T/make.log" 2>&1; then
	ok "one make demo: deps, then a build that links"
else
	not_ok "one make demo: deps, then a build that links"
	tail -20 "$T/make.log"
fi
check "envvmm links json-c, slirp and seccomp" \
	sh -c "ldd '$tree/build/rel/bin/envvmm' | grep -q libjson-c && ldd '$tree/build/rel/bin/envvmm' | grep -q libslirp && ldd '$tree/build/rel/bin/envvmm' | grep -q libseccomp"
check "the libdeflate check saw the header that deps installed" \
	sh -c "ldd '$tree/build/rel/libexec/envup/envctl-full' | grep -q libdeflate"
check "envctl runs" "$tree/build/rel/bin/envctl" --version
finish
