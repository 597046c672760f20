#!/bin/bash
# copy_features: COPY and ADD as Docker does them, built for real and read back from the OCI
# layout: .dockerignore with '!' exceptions (and a Dockerfile-specific ignore file), --chmod
# (octal and symbolic), --parents with a /./ pivot, --exclude, heredocs, ADD of tar archives
# in every compression, ADD of a URL with a right and a wrong --checksum (served by python3's
# http.server on a loopback port), and ADD of a git URL refused.
. "$(dirname "$0")/lib.sh"

ctx=$T/ctx
mkdir -p "$ctx/app/src" "$ctx/app/logs" "$ctx/keepdir/sub" "$ctx/tree/a/b" "$T/tarsrc/inner" \
        "$T/www"
echo main >"$ctx/app/src/main.c"
echo log >"$ctx/app/logs/x.log"
echo keep >"$ctx/app/logs/keep.log"
echo secret >"$ctx/secret.env"
echo readme >"$ctx/README.md"
echo notes >"$ctx/NOTES.md"
echo kept >"$ctx/keepdir/sub/kept.txt"
echo dropped >"$ctx/keepdir/dropped.txt"
echo b >"$ctx/tree/a/b/file.txt"
echo tmp >"$ctx/tree/a/b/file.tmp"
echo script >"$ctx/run.sh"
chmod 0600 "$ctx/run.sh"
cat >"$ctx/.dockerignore" <<'IGN'
# comments and blank lines are ignored

/secret.env
*.md
!README.md
app/logs
!app/logs/keep.log
keepdir
!keepdir/sub/kept.txt
IGN

echo "from archive" >"$T/tarsrc/inner/x.txt"
for c in none gzip bzip2 xz zstd; do
        case $c in
        none) tar -cf "$ctx/a-$c.tar" -C "$T/tarsrc" . ;;
        *) tar -cf - -C "$T/tarsrc" . | $c -c >"$ctx/a-$c.tar" ;;
        esac
done
printf 'not an archive\n' >"$ctx/plain.bin"
echo "remote body" >"$T/www/remote.txt"
touch -d '2020-01-02 03:04:05 UTC' "$T/www/remote.txt"
sum=sha256:$(sha256sum "$T/www/remote.txt" | cut -d' ' -f1)

port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$port" >"$T/http.log" 2>&1 &
http_pid=$!
trap 'kill $http_pid 2>/dev/null; _cleanup' EXIT
for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" \
                2>/dev/null && break
        sleep 0.05
done

cat >"$ctx/Dockerfile" <<DF
ARG BASE
FROM \${BASE}
ARG PORT=$port
WORKDIR /work
COPY . /ctx/
COPY --chmod=0755 run.sh /bin/run-octal
COPY --chmod=u+x,g-w,o=r run.sh /bin/run-symbolic
COPY --parents tree/./a/b/file.txt app/src/main.c /parents/
COPY --exclude=a/*/*.tmp --exclude=**/x.log tree app /excluded/
COPY <<EOF <<'RAW' /heredocs/
port \$PORT
EOF
raw \$PORT
RAW
COPY --chmod=0600 --chown=app:app <<EOF /home/app/note
note
EOF
ADD a-none.tar /tar/none
ADD a-gzip.tar /tar/gzip
ADD a-bzip2.tar /tar/bzip2
ADD a-xz.tar /tar/xz
ADD a-zstd.tar /tar/zstd
ADD plain.bin /plain.bin
ADD --checksum=$sum http://127.0.0.1:\${PORT}/remote.txt /remote/
ADD http://127.0.0.1:$port/remote.txt /renamed.txt
COPY run.sh relative
DF

layout=$T/layout
sb_run root --context="$ctx" --no-push --oci-layout-path="$layout" --build-arg BASE="$BASE_REF"
expect_rc 0 "a Dockerfile using every COPY/ADD feature builds"
img=$T/img
if [ "$RC" = 0 ] && unpack_layout "$layout" latest "$img"; then
        r=$img/rootfs
        assert_exists "$r/ctx/README.md" ".dockerignore: an exception re-includes README.md"
        assert_absent "$r/ctx/NOTES.md" ".dockerignore: *.md excludes NOTES.md"
        assert_absent "$r/ctx/secret.env" ".dockerignore: a leading / is the context root"
        assert_absent "$r/ctx/app/logs/x.log" ".dockerignore: an excluded directory's files"
        assert_exists "$r/ctx/app/logs/keep.log" ".dockerignore: re-included inside a dir"
        assert_exists "$r/ctx/keepdir/sub/kept.txt" ".dockerignore: re-included two levels down"
        assert_absent "$r/ctx/keepdir/dropped.txt" ".dockerignore: siblings stay excluded"
        assert_exists "$r/ctx/Dockerfile" "the Dockerfile is copied when not ignored"
        assert_exists "$r/ctx/.dockerignore" ".dockerignore is copied when not ignored"
        assert_eq "$(mode "$r/bin/run-octal")" 755 "--chmod=0755"
        assert_eq "$(mode "$r/bin/run-symbolic")" 704 "--chmod=u+x,g-w,o=r on a 0600 file"
        assert_exists "$r/parents/a/b/file.txt" "--parents keeps the path after /./"
        assert_exists "$r/parents/app/src/main.c" "--parents keeps the whole path"
        assert_exists "$r/excluded/a/b/file.txt" "--exclude keeps what does not match"
        assert_absent "$r/excluded/a/b/file.tmp" "--exclude=a/*/*.tmp is relative to the source"
        assert_absent "$r/excluded/logs/x.log" "--exclude=**/x.log"
        assert_eq "$(readf "$r/heredocs/EOF")" "port $port" "a heredoc is expanded"
        assert_eq "$(readf "$r/heredocs/RAW")" 'raw $PORT' "a quoted heredoc is not expanded"
        assert_eq "$(mode "$r/heredocs/EOF")" 644 "a heredoc file is 0644"
        assert_eq "$(mode "$r/home/app/note") $(owner "$r/home/app/note")" "600 1000:1000" \
                "a heredoc with --chmod and --chown"
        for c in none gzip bzip2 xz zstd; do
                assert_eq "$(readf "$r/tar/$c/inner/x.txt")" "from archive" \
                        "ADD extracts a $c tar into a new directory"
        done
        assert_eq "$(readf "$r/plain.bin")" "not an archive" "ADD copies a non-archive as is"
        assert_eq "$(readf "$r/remote/remote.txt")" "remote body" "ADD URL into a directory"
        assert_eq "$(mode "$r/remote/remote.txt")" 600 "ADD URL gives mode 0600"
        assert_eq "$(date -u -r "$r/remote/remote.txt" +%Y)" 2020 \
                "ADD URL takes its mtime from Last-Modified"
        assert_eq "$(readf "$r/renamed.txt")" "remote body" "ADD URL to a file name"
        assert_eq "$(readf "$r/work/relative")" script "a relative destination is under WORKDIR"
fi

# a wrong checksum fails, naming the URL
cat >"$ctx/Dockerfile" <<DF
ARG BASE
FROM \${BASE}
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 http://127.0.0.1:$port/remote.txt /x
DF
sb_run root --context="$ctx" --no-push --build-arg BASE="$BASE_REF"
expect_rc 1 "ADD with a wrong --checksum fails"
assert_contains "$ERR" "http://127.0.0.1:$port/remote.txt" "the checksum error names the URL"
assert_contains "$ERR" "checksum" "the error says it is the checksum"

# git sources are refused with a clear message
cat >"$ctx/Dockerfile" <<'DF'
ARG BASE
FROM ${BASE}
ADD https://github.com/example/repo.git /src
DF
sb_run root --context="$ctx" --no-push --build-arg BASE="$BASE_REF"
assert_ne "$RC" 0 "ADD of a git URL fails"
assert_contains "$ERR" "git sources are not supported" "the message says git is not supported"

# the Dockerfile's own ignore file replaces .dockerignore
mkdir -p "$ctx/df"
cat >"$ctx/df/own.Dockerfile" <<'DF'
ARG BASE
FROM ${BASE}
COPY . /ctx/
DF
echo 'README.md' >"$ctx/df/own.Dockerfile.dockerignore"
sb_run root --context="$ctx" --dockerfile=df/own.Dockerfile --no-push \
        --oci-layout-path="$T/layout2" --build-arg BASE="$BASE_REF"
expect_rc 0 "a build with a Dockerfile-specific ignore file"
if [ "$RC" = 0 ] && unpack_layout "$T/layout2" latest "$T/img2"; then
        assert_absent "$T/img2/rootfs/ctx/README.md" "<Dockerfile>.dockerignore is used"
        assert_exists "$T/img2/rootfs/ctx/secret.env" "... instead of the context's .dockerignore"
fi
finish
