#!/bin/bash
# build_push: a Dockerfile using every common instruction is built and pushed to the test
# registry, as root and as an unprivileged user with subuid ranges. The pushed image is read
# back with skopeo and umoci: its config (Env, Cmd, Entrypoint, WorkingDir, User, Labels,
# ExposedPorts, history), its files, modes and owners, and its command run under chroot.
# --digest-file and --image-name-with-digest-file must agree with the registry. Pulling from
# and pushing to a registry with basic auth uses $DOCKER_CONFIG/config.json.
. "$(dirname "$0")/lib.sh"

ctx=$T/ctx
mkdir -p "$ctx/dir/sub" "$ctx/glob" "$T/archive-src/inner"
cat >"$ctx/Dockerfile" <<'DF'
ARG BASE
FROM ${BASE}
ARG GREETING=default
LABEL org.example.test="sbuild e2e" stage=final
ENV APP_HOME=/srv/app MODE=test
RUN echo "hello from $GREETING" > /hello && echo "step-output-marker"
RUN ["/bin/sh", "-c", "echo exec-form > /exec.txt"]
COPY file.txt /srv/app/file.txt
COPY dir/ /srv/app/dir/
COPY glob/*.conf /srv/app/conf/
COPY --chown=app:app owned.txt /srv/app/owned-by-name.txt
COPY --chown=1000:1000 owned.txt /srv/app/owned-by-id.txt
ADD archive.tar.gz /srv/app/extracted/
ADD plain.txt /srv/app/plain.txt
WORKDIR /srv/app/work
RUN pwd > /srv/app/pwd.txt && echo "$APP_HOME $MODE $GREETING" > /srv/app/env.txt
USER app
RUN id -u > /home/app/uid.txt && id -G > /home/app/groups.txt && echo "$HOME" > /home/app/home.txt && touch /home/app/made-by-app
EXPOSE 8080 9090/udp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /hello"]
DF
echo "file content" >"$ctx/file.txt"
chmod 0640 "$ctx/file.txt"
echo "top" >"$ctx/dir/top.txt"
echo "nested" >"$ctx/dir/sub/nested.txt"
chmod 0755 "$ctx/dir/sub/nested.txt"
echo a >"$ctx/glob/a.conf"
echo b >"$ctx/glob/b.conf"
echo c >"$ctx/glob/c.txt"
echo "owned" >"$ctx/owned.txt"
echo "plain" >"$ctx/plain.txt"
echo "from archive" >"$T/archive-src/inner/x.txt"
chmod 0600 "$T/archive-src/inner/x.txt"
ln -s inner/x.txt "$T/archive-src/link"
tar -czf "$ctx/archive.tar.gz" -C "$T/archive-src" --owner=0 --group=0 .

# verify MODE REPO: all checks of the pushed image REG/REPO:v1 built by MODE.
verify() {
        local who=$1 repo=$2 ref=$REG/$2:v1 cfg=$T/$1-config.json img=$T/$1-img
        local digest

        if ! reg_config "$ref" "$cfg"; then
                fail "$who: the image is in the registry at $ref"
                return
        fi
        ok "$who: the image is in the registry at $ref"

        # Config.
        assert_eq "$(jq -c .config.Cmd "$cfg")" '["cat /hello"]' "$who: Cmd is the exec form"
        assert_eq "$(jq -c .config.Entrypoint "$cfg")" '["/bin/sh","-c"]' "$who: Entrypoint is set"
        assert_eq "$(jq -r .config.WorkingDir "$cfg")" /srv/app/work "$who: WorkingDir is set"
        assert_eq "$(jq -r .config.User "$cfg")" app "$who: User is app"
        assert_eq "$(jq -r '.config.Labels["org.example.test"]' "$cfg")" "sbuild e2e" \
                "$who: quoted LABEL value is kept"
        assert_eq "$(jq -r '.config.Labels.stage' "$cfg")" final "$who: second LABEL pair is kept"
        assert_eq "$(jq -c '.config.ExposedPorts | keys' "$cfg")" '["8080/tcp","9090/udp"]' \
                "$who: EXPOSE gives tcp by default and keeps udp"
        local env
        env=$(jq -r '.config.Env[]' "$cfg")
        assert_contains "$env" "APP_HOME=/srv/app" "$who: ENV APP_HOME is in the config"
        assert_contains "$env" "MODE=test" "$who: ENV MODE is in the config"
        assert_contains "$env" "PATH=" "$who: the base image's PATH is inherited"
        assert_not_contains "$env" "GREETING" "$who: an ARG does not persist into Env"
        assert_eq "$(jq -r .architecture "$cfg")/$(jq -r .os "$cfg")" \
                "$(jq -r .architecture "$T/base-config.json")/linux" "$who: platform is the base's"
        local hist
        hist=$(jq -r '.history[].created_by // ""' "$cfg")
        assert_contains "$hist" 'hello from' "$who: history records the RUN command"
        assert_contains "$hist" 'COPY' "$who: history records COPY"
        assert_contains "$hist" 'EXPOSE' "$who: history records EXPOSE"
        assert_eq "$(jq '[.history[] | select(.empty_layer != true)] | length' "$cfg")" \
                "$(jq '.rootfs.diff_ids | length' "$cfg")" \
                "$who: history has one non-empty entry per layer"
        assert_eq "$(jq -r '.rootfs.diff_ids[0]' "$cfg")" \
                "$(jq -r '.rootfs.diff_ids[0]' "$T/base-config.json")" \
                "$who: the base layer is reused as the first layer"

        # Files, modes and owners (umoci checks every diff_id while unpacking).
        if ! pull_unpack "$ref" "$img"; then
                fail "$who: the pushed image copies back and unpacks with umoci"
                return
        fi
        ok "$who: the pushed image copies back and unpacks with umoci"
        local r=$img/bundle/rootfs
        assert_eq "$(readf "$r/hello")" "hello from world" "$who: RUN (shell form) with --build-arg"
        assert_eq "$(readf "$r/exec.txt")" "exec-form" "$who: RUN (exec form)"
        assert_eq "$(readf "$r/srv/app/env.txt")" "/srv/app test world" \
                "$who: RUN sees ENV and ARG values"
        assert_eq "$(readf "$r/srv/app/pwd.txt")" "/srv/app/work" "$who: RUN runs in WORKDIR"
        assert_eq "$(readf "$r/srv/app/file.txt")" "file content" "$who: COPY of a file"
        assert_eq "$(mode "$r/srv/app/file.txt")" 640 "$who: COPY keeps the file mode"
        assert_eq "$(owner "$r/srv/app/file.txt")" 0:0 "$who: COPY without --chown gives root"
        assert_eq "$(readf "$r/srv/app/dir/sub/nested.txt")" "nested" "$who: COPY of a directory"
        assert_eq "$(mode "$r/srv/app/dir/sub/nested.txt")" 755 "$who: COPY dir keeps modes"
        assert_absent "$r/srv/app/dir/dir" "$who: COPY dir/ copies the contents, not the dir"
        assert_eq "$(ls "$r/srv/app/conf" 2>&1 | tr '\n' ' ')" "a.conf b.conf " \
                "$who: COPY glob copies only the matches"
        assert_eq "$(owner "$r/srv/app/owned-by-name.txt")" 1000:1000 \
                "$who: COPY --chown=app:app resolves names from the image's passwd"
        assert_eq "$(owner "$r/srv/app/owned-by-id.txt")" 1000:1000 "$who: COPY --chown=1000:1000"
        assert_eq "$(readf "$r/srv/app/extracted/inner/x.txt")" "from archive" \
                "$who: ADD of a local .tar.gz extracts it"
        assert_eq "$(mode "$r/srv/app/extracted/inner/x.txt")" 600 \
                "$who: ADD extraction keeps modes"
        assert_eq "$(readlink "$r/srv/app/extracted/link")" inner/x.txt \
                "$who: ADD extraction keeps symlinks"
        assert_absent "$r/srv/app/extracted/archive.tar.gz" "$who: ADD does not keep the archive"
        assert_eq "$(readf "$r/srv/app/plain.txt")" "plain" "$who: ADD of a plain file copies it"
        assert_eq "$(readf "$r/home/app/uid.txt")" 1000 "$who: RUN after USER app runs as uid 1000"
        assert_eq "$(readf "$r/home/app/groups.txt")" "1000 2000" \
                "$who: RUN as USER app has app's groups from /etc/group (1000 and extra 2000)"
        assert_eq "$(readf "$r/home/app/home.txt")" /home/app \
                "$who: RUN as USER app has HOME from /etc/passwd"
        assert_eq "$(owner "$r/home/app/made-by-app")" 1000:1000 \
                "$who: a file made by RUN as USER app is owned by 1000:1000"
        assert_eq "$(owner "$r/home/app")" 1000:1000 "$who: the base image's owners are kept"
        assert_eq "$(mode "$r/tmp")" 1777 "$who: the base image's sticky /tmp is kept"
        assert_absent "$r/Dockerfile" "$who: the Dockerfile is not copied into the image"

        # The image's own command runs.
        local -a argv
        mapfile -t argv < <(jq -r '(.config.Entrypoint // []) + (.config.Cmd // []) | .[]' "$cfg")
        assert_eq "$(chroot "$r" "${argv[@]}" 2>&1)" "hello from world" \
                "$who: the image's ENTRYPOINT + CMD runs and prints the RUN output"

        # Digest files.
        digest=$(reg_digest "$ref")
        assert_match "$digest" '^sha256:[0-9a-f]{64}$' "$who: the registry reports a digest"
        assert_eq "$(readf "$T/$who-out/digest")" "$digest" "$who: --digest-file holds the digest"
        assert_eq "$(reg_digest "$REG/$repo:also")" "$digest" \
                "$who: the second --destination has the same manifest"
        assert_eq "$(readf "$T/$who-out/names" | sort | tr '\n' ' ')" \
                "$REG/$repo:also@$digest $REG/$repo:v1@$digest " \
                "$who: --image-name-with-digest-file has REF@DIGEST per destination"
}

# build MODE REPO: build the context as MODE and push to REG/REPO:{v1,also}.
build() {
        local who=$1 repo=$2 out c=$ctx
        out=$(out_dir "$who-out" "$who")
        if [ "$who" = user ]; then
                # The user's own copy: its files are owned by the user, yet COPY without
                # --chown must still give 0:0 in the image.
                c=$T/ctx-user
                cp -a "$ctx" "$c"
                chown -R "$TEST_USER": "$c"
        fi
        sb_run "$who" --context="dir://$c" --dockerfile=Dockerfile \
                --destination="$REG/$repo:v1" --destination "$REG/$repo:also" \
                --build-arg BASE="$BASE_REF" --build-arg=GREETING=world \
                --digest-file="$out/digest" --image-name-with-digest-file "$out/names"
        expect_rc 0 "$who: the build succeeds"
        assert_match "$ERR" '^\[[0-9]+/[0-9]+\] RUN .*  [0-9]+(\.[0-9]+)?s$' \
                "$who: progress shows '[n/total] RUN ...  TIMEs' lines"
        assert_contains "$OUT$ERR" "step-output-marker" "$who: a RUN command's output is shown"
}

if ! reg_config "$BASE_REF" "$T/base-config.json"; then
        fail "the base image is in the registry"
        finish
fi

build root e2e/build-push-root
verify root e2e/build-push-root

if need_user "user: build as an unprivileged user"; then
        build user e2e/build-push-user
        verify user e2e/build-push-user
fi

# Basic auth: credentials come from $DOCKER_CONFIG/config.json, for pull and push.
if [ -n "${SBUILD_TEST_AUTH_REGISTRY:-}" ]; then
        areg=$SBUILD_TEST_AUTH_REGISTRY
        actx=$T/actx
        mkdir -p "$actx" "$T/docker"
        printf 'FROM %s/base/busybox:latest\nRUN echo authed > /authed\n' "$areg" \
                >"$actx/Dockerfile"
        SB_ENV=(DOCKER_CONFIG="$T/docker")
        printf '{"auths":{}}' >"$T/docker/config.json"
        sb_run root --context="$actx" --destination="$areg/e2e/authed:v1"
        assert_ne "$RC" 0 "auth: without credentials the build fails"
        assert_match "$ERR" "$areg|401|[Uu]nauthori|[Aa]uthenticat|[Cc]redential" \
                "auth: the error names the registry or the auth failure"
        printf '{"auths":{"%s":{"auth":"%s"}}}' "$areg" \
                "$(printf '%s' "$SBUILD_TEST_AUTH_CREDS" | base64 -w0)" >"$T/docker/config.json"
        sb_run root --context="$actx" --destination="$areg/e2e/authed:v1"
        expect_rc 0 "auth: with credentials in DOCKER_CONFIG the build pulls and pushes"
        SB_ENV=()
        assert_match "$(skopeo inspect --tls-verify=false --creds "$SBUILD_TEST_AUTH_CREDS" \
                --format '{{.Digest}}' "docker://$areg/e2e/authed:v1" 2>&1)" '^sha256:' \
                "auth: the pushed image is in the auth registry"
fi

finish
