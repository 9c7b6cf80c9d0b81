"""Access tokens for both key types, and the headers every request carries.

Merchant keys (``/accesstoken/get``) send the client secret and subscription key as headers;
partner keys (``/miami/v1/token``) send Basic credentials and a form body. Both answers are read
strictly: the token goes into a header, where an error would print it, so a token that is not a
valid header value is refused here instead.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import requests

from vipps_pipeline.api.errors import ApiError, AuthError, BodyRefused, DuplicateKey
from vipps_pipeline.api.pagejson import strict_json
from vipps_pipeline.api.session import Transport, api_message, read_body
from vipps_pipeline.settings import ApiSettings


def system_headers(settings: ApiSettings) -> dict[str, str]:
    """The Vipps-System-* headers the API asks every integration to send."""
    return {
        "Vipps-System-Name": settings.system_name,
        "Vipps-System-Version": settings.system_version,
        "Vipps-System-Plugin-Name": settings.plugin_name,
        "Vipps-System-Plugin-Version": settings.plugin_version,
    }


def auth_headers(settings: ApiSettings, token: str) -> dict[str, str]:
    """Merchant keys need the subscription key (and serial number) on every call, not only
    on the token request."""
    headers = {
        **system_headers(settings),
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
    }
    if settings.key_type == "merchant":
        headers["Ocp-Apim-Subscription-Key"] = settings.subscription_key_value
        if settings.merchant_serial_number:
            headers["Merchant-Serial-Number"] = settings.merchant_serial_number
    return headers


def _token_request(s: ApiSettings) -> tuple[str, dict[str, str], dict[str, str] | None]:
    """(url, headers, form) of the token request for this key type."""
    headers = system_headers(s)
    if s.key_type == "merchant":
        url = f"{s.base_url}/accesstoken/get"
        headers.update(
            {
                "client_id": s.client_id,
                "client_secret": s.client_secret.get_secret_value(),
                "Ocp-Apim-Subscription-Key": s.subscription_key_value,
            }
        )
        if s.merchant_serial_number:
            headers["Merchant-Serial-Number"] = s.merchant_serial_number
        return url, headers, None
    url = f"{s.base_url}/miami/v1/token"
    basic = base64.b64encode(f"{s.client_id}:{s.client_secret.get_secret_value()}".encode())
    headers["Authorization"] = f"Basic {basic.decode()}"
    return url, headers, {"grant_type": "client_credentials"}


def fetch_token(http: Transport, redact: Callable[[str], str]) -> tuple[str, float]:
    """A new token and the monotonic time to refresh it at (before it expires: 10% of its
    lifetime early, at most 5 minutes). ``redact`` hides every secret from error texts."""
    s = http.settings
    url, headers, data = _token_request(s)
    http.count_request("token request")
    started = time.monotonic()
    try:
        response = http.session.post(
            url,
            headers=headers,
            data=data,
            timeout=http.timeout(),
            allow_redirects=False,
            stream=True,
        )
        http.check_origin(response, "token request")
        read_body(response, started + s.http_timeout_seconds, s.max_body_bytes)
    except (requests.RequestException, ValueError, BodyRefused) as exc:
        # ValueError: http.client's invalid-header error, which quotes the value
        raise ApiError(redact(f"token request to {url} failed: {exc}")) from None
    http.stats["token_refreshes"] += 1
    _refuse_status(s, response, redact)
    token, lifetime = _token_from(response)
    return token, time.monotonic() + lifetime - min(300.0, lifetime * 0.1)


def _refuse_status(
    s: ApiSettings, response: requests.Response, redact: Callable[[str], str]
) -> None:
    """A rejected token request names the settings to check: nothing will work until they
    are fixed, so it is an :class:`AuthError`, not a retry."""
    if response.status_code in (400, 401, 403):
        names = (
            "VIPPS_CLIENT_ID, VIPPS_CLIENT_SECRET and VIPPS_SUBSCRIPTION_KEY"
            if s.key_type == "merchant"
            else "VIPPS_CLIENT_ID and VIPPS_CLIENT_SECRET"
        )
        raise AuthError(
            redact(
                f"the {s.key_type} token request was rejected with HTTP "
                f"{response.status_code}: "
                f"{api_message(response)}; check {names} and VIPPS_KEY_TYPE"
            ),
            response.status_code,
        )
    if response.status_code != 200:
        raise ApiError(
            redact(
                f"token request failed with HTTP {response.status_code}: {api_message(response)}"
            ),
            response.status_code,
        )


def _token_from(response: requests.Response) -> tuple[str, float]:
    """(token, lifetime in seconds) of a 200 answer."""
    try:
        body = strict_json(response.content)
        token = str(body["access_token"])
        lifetime = float(body.get("expires_in") or 3600)  # a string for merchant keys
    except DuplicateKey as exc:
        raise ApiError(f"token response: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ApiError("token response has no access_token/expires_in") from None
    if not token or not (token.isascii() and token.isprintable()) or " " in token:
        # it goes into a header: the header error would print it
        raise ApiError("token response: access_token is not a valid header value")
    return token, lifetime
