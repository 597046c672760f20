#!/bin/bash
# single_id: an ordinary user without /etc/subuid and /etc/subgid ranges builds in single-id
# mode (only the caller is mapped, as uid 0). Owners it cannot chown to are recorded and
# written into the layers' tar headers, so the image still has Docker's owners: /home/app
# stays 1000:1000 when a RUN step re-emits it, COPY --chown=app:app gives 1000:1000, and what
# RUN (as root) creates is 0:0. The log must say which mode was used.
. "$(dirname "$0")/lib.sh"

single_user=sbuildsingle

# The user, created once, never given subordinate ids (useradd adds them by default on Debian).
if ! id "$single_user" >/dev/null 2>&1; then
        useradd -m -s /bin/sh -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$single_user" 2>/dev/null ||
                id "$single_user" >/dev/null 2>&1 || _bail_or_skip "cannot create $single_user"
fi
for f in /etc/subuid /etc/subgid; do
        if grep -q "^$single_user:" "$f" 2>/dev/null; then
                sed -i "/^$single_user:/d" "$f"
        fi
done
if grep -qs "^$single_user:" /etc/subuid /etc/subgid; then
        fail "$single_user has no subordinate id ranges"
else
        ok "$single_user has no subordinate id ranges"
fi

# A copy of sbuild the user can surely execute, and lib.sh's user mode pointed at that user.
mkdir -p "$T/bin"
install -m 0755 "$SBUILD_BIN" "$T/bin/sbuild"
SBUILD_BIN=$T/bin/sbuild
TEST_USER=$single_user

c=$T/ctx
mkdir -p "$c"
echo "copied with chown" >"$c/f"
cat >"$c/Dockerfile" <<DF
FROM $BASE_REF
COPY --chown=app:app f /f
RUN echo made-by-run > /run.txt && touch /home/app/made-by-run
DF
chown -R "$single_user": "$c"
out=$(out_dir out user)
sb_run user --context="dir://$c" --dockerfile=Dockerfile --destination="$REG/e2e/single-id:v1" \
        --oci-layout-path="$out/oci"
expect_rc 0 "the build as $single_user succeeds and pushes"
assert_contains "$ERR" "single id" "the log says the build runs in single-id mode"

img=$T/img
tag=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"] // "latest"' \
        "$out/oci/index.json" 2>/dev/null)
if unpack_layout "$out/oci" "$tag" "$img"; then
        ok "the OCI layout unpacks with umoci"
else
        fail "the OCI layout unpacks with umoci" "$(cat "$T/umoci.log" 2>/dev/null)"
fi
r=$img/rootfs
assert_eq "$(owner "$r/home/app")" 1000:1000 \
        "/home/app, re-emitted by the RUN layer, keeps the base image's owner 1000:1000"
assert_eq "$(owner "$r/f")" 1000:1000 "COPY --chown=app:app gives /f 1000:1000"
assert_eq "$(readf "$r/f")" "copied with chown" "/f has the context file's content"
assert_eq "$(owner "$r/run.txt")" 0:0 "a file RUN creates is 0:0"
assert_eq "$(owner "$r/home/app/made-by-run")" 0:0 "a file RUN creates in /home/app is 0:0"
assert_eq "$(owner "$r/etc/passwd")" 0:0 "a base image file owned by root stays 0:0"

# The layers themselves carry the owners (not only the unpacked result), and no record xattr.
headers() { # LAYER: "name uid:gid" per entry, and any pax header naming sbuild
        python3 - "$1" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        print(m.name, "%d:%d" % (m.uid, m.gid))
        for k in m.pax_headers:
            if "sbuild" in k:
                print(m.name, "record", k)
PY
}
layers=$(layout_layers "$out/oci" "$tag")
run_layer=$(printf '%s\n' "$layers" | tail -n1)
copy_layer=$(printf '%s\n' "$layers" | tail -n2 | head -n1)
assert_contains "$(headers "$run_layer")" "home/app 1000:1000" \
        "the RUN layer's tar header for home/app is 1000:1000"
assert_contains "$(headers "$copy_layer")" "f 1000:1000" \
        "the COPY layer's tar header for f is 1000:1000"
all=$(for l in $layers; do headers "$l"; done)
assert_not_contains "$all" " record " "no layer carries a user.sbuild.* xattr"

# The pushed image is the same image.
if pull_unpack "$REG/e2e/single-id:v1" "$T/pulled"; then
        assert_eq "$(owner "$T/pulled/bundle/rootfs/f")" 1000:1000 \
                "the pushed image has /f 1000:1000 too"
else
        fail "the pushed image copies back and unpacks" "$(cat "$T/umoci.log" 2>/dev/null)"
fi

finish
