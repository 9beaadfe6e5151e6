"""A Teams worker in Python for cdk-teams-delegated-auth-bot (worker contract v2).

Standard library + boto3 + cryptography (AES-GCM). For each message: decrypt the user's token (KMS data key,
AES-256-GCM), call Microsoft Graph
/v1.0/me as the user, and reply in the thread of the message with the bot's own app token. Replies at most
once per message (idempotency record in the conversation table); one short apology if it fails before replying.
The endpoints come from the environment the construct writes, resolved for the bot's cloud (no cloud table here);
no redirect is ever followed, since every request carries a credential.
"""
import base64
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def guid(value):
    """The one spelling of an Entra id (tenant, user, app): a GUID in lower case; anything else unchanged."""
    return value.lower() if isinstance(value, str) and GUID.match(value) else value


APP_ID = guid(os.environ["TDAB_APP_ID"])
TENANT_ID = guid(os.environ["TDAB_TENANT_ID"])  # the bot's own tenant: its app token comes from there
SECRET_ARN = os.environ["TDAB_SECRET_ARN"]  # {"clientSecret": "..."}
TABLE = os.environ["TDAB_CONVERSATION_TABLE"]
# Endpoints of the bot's cloud, resolved by the construct (docs/worker-contract.md, "Environment"): required, so a
# worker in US Gov or China never falls back to public-cloud hosts.
AUTHORITY = os.environ["TDAB_ENTRA_AUTHORITY"].rstrip("/")
BOT_SCOPE = os.environ["TDAB_BOT_CONNECTOR_SCOPE"]
GRAPH = os.environ["TDAB_GRAPH_BASE_URL"].rstrip("/")
SERVICE_URL_HOSTS = [h.strip().lower() for h in os.environ["TDAB_SERVICE_URL_HOSTS"].split(",") if h.strip()]
TIMEOUT = 10  # seconds, on every HTTP call
APOLOGY = "Sorry, something went wrong while I was working on your message. Please try again later."

# Clients and caches live as long as the Lambda container.
kms = boto3.client("kms")
secrets = boto3.client("secretsmanager")
dynamodb = boto3.client("dynamodb")
_cache = {"secret": None, "bot_token": None, "bot_token_refresh_at": 0.0}


class RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: every request here carries a credential (a bearer token or the client secret), and
    urllib would send the Authorization header on to any host. The 3xx is raised as an HTTPError instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(RefuseRedirects)


def http(method, url, headers, body=None, retries=3):
    """One HTTP call with a timeout, no redirects; 429/5xx retried a few times honouring Retry-After (capped)."""
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with _opener.open(req, timeout=TIMEOUT) as res:
                text = res.read().decode("utf-8")
                return json.loads(text) if text else {}
        except urllib.error.HTTPError as err:
            if (err.code == 429 or err.code >= 500) and attempt < retries:
                retry_after = err.headers.get("Retry-After", "")
                time.sleep(min(10.0, float(retry_after) if retry_after.isdigit() else 0.5 * 2 ** attempt))
                continue
            raise


def decrypt_token(token):
    """KMS Decrypt of the data key with the encryption context and key id, then AES-256-GCM open of the ciphertext
    (ciphertext + 16-byte tag) with the canonical encryption context as additional data; a changed ciphertext raises."""
    context = token["encryptionContext"]
    data_key = kms.decrypt(
        CiphertextBlob=base64.b64decode(token["encryptedKey"]),
        EncryptionContext=context,
        KeyId=token["keyId"],
    )["Plaintext"]
    aad = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    plaintext = AESGCM(data_key).decrypt(base64.b64decode(token["iv"]), base64.b64decode(token["ciphertext"]), aad)
    return plaintext.decode("utf-8")


def bot_token():
    """The bot's app token: client credentials in the bot's own tenant, cached until 5 minutes before expiry."""
    if _cache["bot_token"] and time.time() < _cache["bot_token_refresh_at"]:
        return _cache["bot_token"]
    if _cache["secret"] is None:
        _cache["secret"] = json.loads(secrets.get_secret_value(SecretId=SECRET_ARN)["SecretString"])["clientSecret"]
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "client_secret": _cache["secret"],
        "scope": BOT_SCOPE,
    }).encode()
    url = f"{AUTHORITY}/{urllib.parse.quote(TENANT_ID, safe='')}/oauth2/v2.0/token"
    res = http("POST", url, {"Content-Type": "application/x-www-form-urlencoded"}, form)
    lifetime = int(res.get("expires_in", 3600))
    _cache["bot_token"] = res["access_token"]
    _cache["bot_token_refresh_at"] = time.time() + lifetime - min(300, lifetime / 2)
    return _cache["bot_token"]


def service_url_allowed(service_url):
    """Send the bot's token only to an allow-listed Bot Connector host (https), or an exact origin entry."""
    url = urllib.parse.urlsplit(service_url)
    origin = f"{url.scheme}://{url.netloc}".lower()
    host = (url.hostname or "").lower()
    for entry in SERVICE_URL_HOSTS:
        if "://" in entry:
            if origin == entry.rstrip("/"):
                return True
        elif url.scheme == "https" and url.port is None and (
            host == entry or (entry.startswith("*.") and host.endswith(entry[1:]))
        ):
            return True
    return False


def reply(conversation, reply_to_id, text):
    """POST {serviceUrl}/v3/conversations/{id}/activities/{replyToId} with the bot's app token."""
    if not service_url_allowed(conversation["serviceUrl"]):
        raise ValueError("serviceUrl is not an allowed Bot Connector host")
    conversation_id = urllib.parse.quote(conversation["conversation"]["id"], safe="")  # ';messageid=' in channels
    url = (conversation["serviceUrl"].rstrip("/") + f"/v3/conversations/{conversation_id}/activities/"
           + urllib.parse.quote(reply_to_id, safe=""))
    activity = {
        "type": "message",
        "text": text,
        "textFormat": "plain",
        "replyToId": reply_to_id,
        "from": conversation["bot"],
        "recipient": {"id": conversation["user"]["id"]},
        "conversation": {"id": conversation["conversation"]["id"]},
    }
    headers = {"Authorization": f"Bearer {bot_token()}", "Content-Type": "application/json"}
    return http("POST", url, headers, json.dumps(activity).encode())


def check_token_binding(event):
    """The token was encrypted for this bot and for the user and tenant of the conversation (ids compared in their one
    spelling, lower case; the encryption context itself goes to KMS unchanged)."""
    context, conversation = event["token"]["encryptionContext"], event["conversation"]
    expected = {
        "appId": APP_ID,
        "tenantId": guid(conversation["conversation"].get("tenantId")),
        "aadObjectId": guid(conversation["user"].get("aadObjectId")),
    }
    for name, value in expected.items():
        if value and name in context and guid(context[name]) != value:
            raise ValueError(f"the token's encryption context {name} does not match this bot and conversation")


def graph_me(user_token):
    """GET {graph}/v1.0/me as the user. The user's token goes to the configured Graph URL only."""
    return http("GET", f"{GRAPH}/v1.0/me", {"Authorization": f"Bearer {user_token}", "Accept": "application/json"})


def update_record(key, update, condition, values):
    """One conditional update of the idempotency item; False if the condition did not hold."""
    names = {"#s": "state", "#l": "leaseUntil", "#t": "ttl", "#a": "apologized", "#o": "owner"}
    try:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": key}, "sk": {"S": "worker"}},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={k: v for k, v in names.items() if k in update + condition},
            ExpressionAttributeValues=values,
        )
        return True
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False


def handler(event, context):
    if event.get("type") != "teams-delegated-auth-bot.message" or event.get("version") != "2":
        raise ValueError("not a worker contract v2 event")
    conversation, message = event["conversation"], event["message"]
    # Each id percent-encoded like JavaScript's encodeURIComponent (docs/worker-contract.md), so ids never collide.
    key = "#".join(["worker"] + [urllib.parse.quote(i, safe="-_.!~*'()") for i in (conversation["conversation"]["id"], message["id"])])
    now_ms = int(time.time() * 1000)
    remaining_ms = context.get_remaining_time_in_millis() if context else 900_000
    started = update_record(
        key,
        "SET #s = :started, #l = :lease, #t = :ttl, #o = :owner",
        # ... or started by this very call: boto3 retries an update whose response was lost, and must find it its own.
        "attribute_not_exists(pk) OR #s = :failed OR (#s = :started AND (#l < :now OR #o = :owner))",
        {":started": {"S": "started"}, ":failed": {"S": "failed"}, ":now": {"N": str(now_ms)},
         ":lease": {"N": str(now_ms + remaining_ms + 5000)}, ":ttl": {"N": str(now_ms // 1000 + 86400)},
         ":owner": {"S": base64.urlsafe_b64encode(os.urandom(12)).decode()}},
    )
    if not started:
        return {"status": "skipped"}  # already answered, or another attempt is working on it
    replied = False
    try:
        check_token_binding(event)
        me = graph_me(decrypt_token(event["token"]))
        asked = " ".join((message.get("text") or "").split())[:200]
        reply(conversation, message["id"], f"Hi {me.get('displayName', 'there')}! You asked: \u201c{asked}\u201d")
        replied = True
        update_record(key, "SET #s = :replied, #l = :zero", "attribute_exists(pk)",
                      {":replied": {"S": "replied"}, ":zero": {"N": "0"}})
        return {"status": "replied"}
    except Exception:
        if replied:
            return {"status": "replied"}  # never raise after the reply: a retry would answer twice
        update_record(key, "SET #s = :failed, #l = :zero", "#s = :started",
                      {":failed": {"S": "failed"}, ":started": {"S": "started"}, ":zero": {"N": "0"}})
        if update_record(key, "SET #a = :true", "attribute_not_exists(#a)", {":true": {"BOOL": True}}):
            try:
                reply(conversation, message["id"], APOLOGY)  # the one apology for this message
            except Exception:
                pass
        raise  # Lambda retries, then sends the event to the failure destination
