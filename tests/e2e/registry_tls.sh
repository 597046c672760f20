#!/bin/bash
# registry_tls: sbuild against docker-registry over TLS with a CA made here by openssl.
# Registry A has htpasswd basic auth: pull and push work with --registry-certificate, fail
# without it (naming the host and the certificate), and work with
# --skip-tls-verify-registry HOST. Registry B requires a client certificate (mTLS): a pull
# works with --registry-client-cert and fails without it.
. "$(dirname "$0")/lib.sh"

pki=$T/pki
mkdir -p "$pki"
# quiet: openssl writes progress to stderr
mk_pki() {
        cd "$pki" || return 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
                -subj /CN=sbuild-test-ca -addext basicConstraints=critical,CA:TRUE \
                -addext keyUsage=critical,keyCertSign,cRLSign &&
                openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
                        -subj /CN=localhost &&
                printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
                        >server.ext &&
                openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                        -out server.pem -days 2 -extfile server.ext &&
                openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
                        -subj /CN=sbuild-client &&
                printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
                openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                        -out client.pem -days 2 -extfile client.ext
}
if ! (mk_pki) >"$T/openssl.log" 2>&1; then
        fail "openssl makes a CA, a server and a client certificate" "$(tail -n 20 "$T/openssl.log")"
        finish
fi
chmod 0644 "$pki"/*
# skopeo's --cert-dir layout: *.crt CAs, NAME.cert + NAME.key client pairs
mkdir -p "$pki/skopeo-a" "$pki/skopeo-b"
cp "$pki/ca.pem" "$pki/skopeo-a/ca.crt"
cp "$pki/ca.pem" "$pki/skopeo-b/ca.crt"
cp "$pki/client.pem" "$pki/skopeo-b/client.cert"
cp "$pki/client.key" "$pki/skopeo-b/client.key"

# start_tls_registry DIR PORT [auth|mtls]: docker-registry on 127.0.0.1:PORT over TLS.
REG_DIRS=()
start_tls_registry() {
        local dir=$1 port=$2 kind=$3 i code
        mkdir -p "$dir/data"
        {
                printf 'version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n'
                printf 'storage:\n  filesystem:\n    rootdirectory: %s/data\n' "$dir"
                printf 'http:\n  addr: 127.0.0.1:%s\n  secret: sbuild-test-secret\n' "$port"
                printf '  tls:\n    certificate: %s/server.pem\n    key: %s/server.key\n' \
                        "$pki" "$pki"
                if [ "$kind" = mtls ]; then
                        printf '    clientcas:\n      - %s/ca.pem\n' "$pki"
                else
                        htpasswd -nbB tlsuser tlspass | sed '/^$/d' >"$dir/htpasswd"
                        printf 'auth:\n  htpasswd:\n    realm: sbuild-tls\n    path: %s/htpasswd\n' \
                                "$dir"
                fi
        } >"$dir/config.yml"
        setsid docker-registry serve "$dir/config.yml" </dev/null >"$dir/log" 2>&1 &
        echo $! >"$dir/pid"
        REG_DIRS+=("$dir")
        for i in $(seq 1 100); do
                code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' --cacert "$pki/ca.pem" \
                        --cert "$pki/client.pem" --key "$pki/client.key" \
                        "https://127.0.0.1:$port/v2/" || true)
                case "$code" in 200 | 401) return 0 ;; esac
                sleep 0.2
        done
        cat "$dir/log" >&2
        return 1
}
stop_registries() {
        local d
        for d in "${REG_DIRS[@]}"; do
                [ -f "$d/pid" ] && kill "$(cat "$d/pid")" 2>/dev/null
        done
        _cleanup
}
trap stop_registries EXIT

PA=$(free_port)
PB=$(free_port)
A=127.0.0.1:$PA
B=127.0.0.1:$PB
if ! start_tls_registry "$T/reg-a" "$PA" auth || ! start_tls_registry "$T/reg-b" "$PB" mtls; then
        fail "the TLS registries start"
        finish
fi
ok "docker-registry runs over TLS with htpasswd ($A) and with client CAs ($B)"

check "the base image is copied into the TLS registry with basic auth" \
        skopeo copy -q --src-tls-verify=false --dest-cert-dir "$pki/skopeo-a" \
        --dest-creds tlsuser:tlspass "docker://$BASE_REF" "docker://$A/base/busybox:latest"
check "the base image is copied into the mTLS registry with a client certificate" \
        skopeo copy -q --src-tls-verify=false --dest-cert-dir "$pki/skopeo-b" \
        "docker://$BASE_REF" "docker://$B/base/busybox:latest"

mkdir -p "$T/docker"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$A" "$(printf tlsuser:tlspass | base64 -w0)" \
        >"$T/docker/config.json"
SB_ENV=(DOCKER_CONFIG="$T/docker")

ctx=$T/ctx
mkdir -p "$ctx"
printf 'ARG BASE\nFROM ${BASE}\nRUN echo tls > /tls.txt\n' >"$ctx/Dockerfile"

# 1. --registry-certificate: pull and push with the CA
sb_run root -c "$ctx" --build-arg BASE="$A/base/busybox:latest" -d "$A/out/tls:v1" \
        --registry-certificate "$A=$pki/ca.pem"
expect_rc 0 "pull and push over TLS work with --registry-certificate HOST=CA.pem"
pushed=$(skopeo inspect --cert-dir "$pki/skopeo-a" --creds tlsuser:tlspass \
        --format '{{.Digest}}' "docker://$A/out/tls:v1" 2>&1)
assert_match "$pushed" '^sha256:[0-9a-f]{64}$' "the pushed image is in the TLS registry"

# 2. no CA: a certificate error that names the host, no silent fallback to http
sb_run root -c "$ctx" --build-arg BASE="$A/base/busybox:latest" -d "$A/out/tls:v2"
assert_ne "$RC" 0 "without the CA the build fails"
assert_contains "$ERR" "$A" "the TLS error names the registry host"
assert_match "$ERR" '[Cc]ertificate' "the TLS error says it is about the certificate"
assert_not_contains "$ERR" "HTTP request to an HTTPS server" \
        "a loopback TLS registry is not retried over plain http to hide the error"

# 3. --skip-tls-verify-registry HOST
sb_run root -c "$ctx" --build-arg BASE="$A/base/busybox:latest" -d "$A/out/tls:v3" \
        --skip-tls-verify-registry "$A"
expect_rc 0 "--skip-tls-verify-registry HOST pulls and pushes without the CA"
sb_run root -c "$ctx" --build-arg BASE="$A/base/busybox:latest" --no-push \
        --skip-tls-verify-registry "127.0.0.1:1"
assert_ne "$RC" 0 "--skip-tls-verify-registry for another host does not apply"
sb_run root -c "$ctx" --build-arg BASE="$A/base/busybox:latest" --no-push --skip-tls-verify-pull
expect_rc 0 "--skip-tls-verify-pull pulls without the CA"
sb_run root -c "$ctx" --build-arg BASE="$A/base/busybox:latest" -d "$A/out/tls:v4" \
        --skip-tls-verify-pull
assert_ne "$RC" 0 "--skip-tls-verify-pull does not cover the push"

# 4. mTLS
sb_run root -c "$ctx" --build-arg BASE="$B/base/busybox:latest" -d "$B/out/mtls:v1" \
        --registry-certificate "$B=$pki/ca.pem" \
        --registry-client-cert "$B=$pki/client.pem,$pki/client.key"
expect_rc 0 "pull and push with --registry-client-cert HOST=CERT,KEY (mTLS) work"
check "the image pushed over mTLS is in the registry" \
        skopeo inspect --cert-dir "$pki/skopeo-b" "docker://$B/out/mtls:v1"
sb_run root -c "$ctx" --build-arg BASE="$B/base/busybox:latest" --no-push \
        --registry-certificate "$B=$pki/ca.pem"
assert_ne "$RC" 0 "without the client certificate the mTLS registry refuses the pull"
assert_contains "$ERR" "$B" "the mTLS failure names the registry host"
sb_run root -c "$ctx" --build-arg BASE="$B/base/busybox:latest" --no-push \
        --registry-certificate "$B=$pki/ca.pem" \
        --registry-client-cert "$B=$pki/client.pem,$T/missing.key"
assert_ne "$RC" 0 "a missing client key fails the pull"

finish
