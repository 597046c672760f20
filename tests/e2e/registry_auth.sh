#!/bin/bash
# registry_auth: pulling and pushing through a docker-registry with token auth, behind a small
# token server started here (RS256 JWTs signed with openssl, an x5c header holding the cert).
# The server grants anonymous pulls of base/* only, everything to tester with the right
# password, and logs each request's scopes and who asked. Checked: credentials from
# $DOCKER_CONFIG and from a credential helper; one token request per scope set (cached for
# a second destination); a clear error for wrong credentials; and no password or token in
# sbuild's output at --verbosity=trace.
. "$(dirname "$0")/lib.sh"

USER_NAME=tester
PASSWORD='pw-Zq8-not-in-logs'
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$T/tok" "$T/reg/data"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tok/key.pem" -out "$T/tok/cert.pem" \
        -days 2 -subj /CN=sbuild-test-token >/dev/null 2>&1 || { fail "openssl makes a key"; finish; }

cat >"$T/tok/server.py" <<'PY'
# Token server for the test: GET (Basic or anonymous) and OAuth2 POST (refresh_token).
import base64, json, subprocess, sys, time, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs

port, key, cert, log_path, user, password, refresh = sys.argv[1:8]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                     capture_output=True).stdout
x5c = base64.b64encode(der).decode()

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def sign(access, service):
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "x5c": [x5c]}
    claims = {"iss": "sbuild-test-issuer", "sub": "x", "aud": service, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
    signing = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         check=True, capture_output=True).stdout
    return signing + "." + b64u(sig)

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, who, scopes, service):
        with open(log_path, "a") as f:
            f.write("%s %s scope=%s\n" % (self.command, who, " ".join(sorted(scopes))))
        if who == "bad":
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"details":"wrong credentials"}')
            return
        access = []
        for s in scopes:
            parts = s.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            if who == "anon":
                # anonymous: pull of base/* only
                actions = [a for a in actions if a == "pull"] if name.startswith("base/") else []
            if actions:
                access.append({"type": "repository", "name": name, "actions": actions})
        tok = sign(access, service)
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300,
                           "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        who = "anon"
        h = self.headers.get("Authorization", "")
        if h.startswith("Basic "):
            u, _, p = base64.b64decode(h[6:]).decode().partition(":")
            who = "user" if (u, p) == (user, password) else "bad"
        elif h:
            who = "bad"
        self.answer(who, q.get("scope", []), q.get("service", [""])[0])

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        q = parse_qs(self.rfile.read(n).decode())
        ok = q.get("grant_type") == ["refresh_token"] and q.get("refresh_token") == [refresh]
        scopes = q.get("scope", [""])[0].split()
        self.answer("refresh" if ok else "bad", scopes, q.get("service", [""])[0])

HTTPServer(("127.0.0.1", int(port)), H).serve_forever()
PY

TOKPORT=$(free_port)
REGPORT=$(free_port)
TOKLOG=$T/tok/requests.log
: >"$TOKLOG"
REFRESH='rt-Kx7-refresh-secret'
setsid python3 "$T/tok/server.py" "$TOKPORT" "$T/tok/key.pem" "$T/tok/cert.pem" "$TOKLOG" \
        "$USER_NAME" "$PASSWORD" "$REFRESH" </dev/null >"$T/tok/server.out" 2>&1 &
TOKPID=$!

cat >"$T/reg/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/reg/data
http:
  addr: 127.0.0.1:$REGPORT
  secret: sbuild-test-secret
auth:
  token:
    realm: http://127.0.0.1:$TOKPORT/token
    service: sbuild-test-registry
    issuer: sbuild-test-issuer
    rootcertbundle: $T/tok/cert.pem
YML
setsid docker-registry serve "$T/reg/config.yml" </dev/null >"$T/reg/log" 2>&1 &
REGPID=$!
stop_servers() {
        kill "$TOKPID" "$REGPID" 2>/dev/null
        wait "$TOKPID" "$REGPID" 2>/dev/null
        _cleanup
}
trap stop_servers EXIT

up=0
for _ in $(seq 1 100); do
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$REGPORT/v2/" || true)
        tcode=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$TOKPORT/token" || true)
        if [ "$code" = 401 ] && [ "$tcode" = 200 ]; then up=1; break; fi
        sleep 0.2
done
if [ $up = 0 ]; then
        fail "the token registry and token server start" "$(cat "$T/reg/log" "$T/tok/server.out")"
        finish
fi
ok "the token registry and token server start"

TREG=127.0.0.1:$REGPORT
# Seed the registry with the base image (skopeo speaks the token flow too).
if skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
        --dest-creds "$USER_NAME:$PASSWORD" "docker://$BASE_REF" \
        "docker://$TREG/base/busybox:latest" >"$T/seed.log" 2>&1 &&
        skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
                --dest-creds "$USER_NAME:$PASSWORD" "docker://$BASE_REF" \
                "docker://$TREG/private/base:latest" >>"$T/seed.log" 2>&1; then
        ok "the base image is copied into the token registry"
else
        fail "the base image is copied into the token registry" "$(cat "$T/seed.log")"
        finish
fi

# write_config DIR JSON
write_config() { mkdir -p "$1" && printf '%s\n' "$2" >"$1/config.json"; }
AUTH64=$(printf '%s:%s' "$USER_NAME" "$PASSWORD" | base64 -w0)
write_config "$T/dc-good" "{\"auths\":{\"$TREG\":{\"auth\":\"$AUTH64\"}}}"
write_config "$T/dc-none" '{}'
write_config "$T/dc-bad" "{\"auths\":{\"$TREG\":{\"auth\":\"$(printf '%s:bad-Pw4-guess' "$USER_NAME" | base64 -w0)\"}}}"
write_config "$T/dc-helper" "{\"credHelpers\":{\"$TREG\":\"sbtest\"},\"auths\":{\"$TREG\":{\"auth\":\"$(printf 'x:y' | base64 -w0)\"}}}"
write_config "$T/dc-idtoken" "{\"auths\":{\"$TREG\":{\"identitytoken\":\"$REFRESH\"}}}"
mkdir -p "$T/bin"
cat >"$T/bin/docker-credential-sbtest" <<SH
#!/bin/sh
[ "\$1" = get ] || exit 3
read -r server
echo "\$server" >>"$T/helper.log"
printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$server" "$USER_NAME" "$PASSWORD"
SH
chmod 0755 "$T/bin/docker-credential-sbtest"

ctx=$T/ctx
mkdir -p "$ctx"
printf 'FROM %s\nRUN echo token-auth > /auth.txt\n' "$TREG/base/busybox:latest" >"$ctx/Dockerfile"
printf 'FROM %s\nRUN echo private > /p.txt\n' "$TREG/private/base:latest" >"$ctx/Dockerfile.private"

count() { grep -c -- "$1" "$TOKLOG" || true; }
insp() { skopeo inspect --tls-verify=false --creds "$USER_NAME:$PASSWORD" --format '{{.Digest}}' "docker://$1"; }

# 1. An anonymous pull of a base image works; pulling the private one anonymously does not.
SB_ENV=(DOCKER_CONFIG="$T/dc-none")
sb_run root --context="$ctx" --no-push
expect_rc 0 "an anonymous build pulls base/* through the token server"
assert_match "$(cat "$TOKLOG")" "^GET anon scope=repository:base/busybox:pull$" \
        "the anonymous token request asks for pull of base/busybox"
sb_run root --context="$ctx" --dockerfile="$ctx/Dockerfile.private" --no-push
assert_ne "$RC" 0 "an anonymous pull of a private repository fails"
assert_contains "$ERR" "$TREG" "the failed anonymous pull names the registry"

# 2. With credentials in DOCKER_CONFIG: pull the private base, push two tags.
: >"$TOKLOG"
SB_ENV=(DOCKER_CONFIG="$T/dc-good")
sb_run root --context="$ctx" --dockerfile="$ctx/Dockerfile.private" \
        --destination="$TREG/private/app:v1" --destination="$TREG/private/app:v2" \
        --verbosity=trace
expect_rc 0 "a build with credentials pulls a private base and pushes two tags"
d1=$(insp "$TREG/private/app:v1" 2>&1)
d2=$(insp "$TREG/private/app:v2" 2>&1)
assert_match "$d1" '^sha256:[0-9a-f]{64}$' "the first tag is in the registry"
assert_eq "$d2" "$d1" "both tags name the same manifest"
assert_eq "$(count ' anon ')" 0 "with credentials no anonymous token is asked for"
assert_eq "$(count '^GET user scope=repository:private/base:pull$')" 1 \
        "one token request for the private base's pull scope"
npush=$(count '^GET user scope=repository:private/app:pull,push$')
nreq=$(wc -l <"$TOKLOG")
if [ "$npush" = 1 ]; then
        ok "the push token is fetched once and reused for the second tag ($npush, $nreq in all)"
else
        fail "the push token is fetched once and reused for the second tag" "$(cat "$TOKLOG")"
fi
trace_out="$OUT$ERR"
assert_contains "$ERR" "registry" "trace output talks about the registry"
assert_not_contains "$trace_out" "$PASSWORD" "the password is not in trace output"
assert_not_contains "$trace_out" "$AUTH64" "the base64 auth is not in trace output"
assert_not_contains "$trace_out" "eyJ" "no JWT (token) is in trace output"
assert_not_contains "$trace_out" "Authorization" "no Authorization header is in trace output"

# A second push of the same image in a new build reuses its tokens within that build too.
: >"$TOKLOG"
sb_run root --context="$ctx" --dockerfile="$ctx/Dockerfile.private" \
        --destination="$TREG/private/app:v3"
expect_rc 0 "a second build pushes again"
n3=$(count '^GET user scope=repository:private/app:pull,push$')
if [ "$n3" -le "$npush" ]; then
        ok "a one-tag push needs no more token requests than the two-tag one ($n3)"
else
        fail "a one-tag push needs no more token requests than the two-tag one" "$(cat "$TOKLOG")"
fi

# 3. A credential helper in PATH gives the credentials (over a wrong "auths" entry).
: >"$TOKLOG"
SB_ENV=(DOCKER_CONFIG="$T/dc-helper" PATH="$T/bin:$PATH")
sb_run root --context="$ctx" --dockerfile="$ctx/Dockerfile.private" \
        --destination="$TREG/private/helper:v1"
expect_rc 0 "credentials from docker-credential-sbtest pull and push"
assert_eq "$(sort -u "$T/helper.log" 2>/dev/null)" "$TREG" "the helper was asked for the host"
assert_match "$(insp "$TREG/private/helper:v1" 2>&1)" '^sha256:' "the helper's push is there"
assert_eq "$(count ' bad ')" 0 "the helper's credentials were used, not the auths entry"

# 4. An identity token from config.json is used as an OAuth2 refresh token (POST).
: >"$TOKLOG"
SB_ENV=(DOCKER_CONFIG="$T/dc-idtoken")
sb_run root --context="$ctx" --dockerfile="$ctx/Dockerfile.private" \
        --destination="$TREG/private/idt:v1" --verbosity=trace
expect_rc 0 "an identity token pulls and pushes"
assert_match "$(cat "$TOKLOG")" "^POST refresh scope=repository:private/idt:pull,push$" \
        "the identity token was sent as a refresh_token POST"
assert_not_contains "$OUT$ERR" "$REFRESH" "the identity token is not in trace output"

# 5. Wrong credentials: a clear error naming the registry, no password in it.
SB_ENV=(DOCKER_CONFIG="$T/dc-bad")
sb_run root --context="$ctx" --dockerfile="$ctx/Dockerfile.private" --no-push \
        --verbosity=trace
assert_ne "$RC" 0 "wrong credentials fail the build"
assert_contains "$ERR" "refused the credentials from docker config.json" \
        "the error says the credentials were refused"
assert_contains "$ERR" "$TREG" "the error names the registry"
assert_not_contains "$OUT$ERR" "bad-Pw4-guess" "the wrong password is not printed"

finish
