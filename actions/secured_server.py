"""The action server (rasa-sdk), answering only the Rasa servers.

`python -m actions.secured_server --actions actions --port 5055` takes the arguments of
`rasa run actions` and starts the same server, with one addition: every request except
`/health` must carry the shared secret of CART_ACTION_SERVER_SECRET in the
`X-Cart-Action-Secret` header, as `v1:<secret>`, which the Rasa servers send
(deploy/endpoints.yml: `action_endpoint.headers`). Anyone else on the internal network
gets 401: the actions store handoff requests and hold the program's data keys.

Without a secret the server starts on loopback only (`make run`, where only local
processes reach it); on any other address it refuses to start.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import sys

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app, create_argument_parser
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from core.settings import load_action_server_settings

SECRET_HEADER = "X-Cart-Action-Secret"
SECRET_FORMAT = "v1:{secret}"  # as deploy/endpoints.yml writes it
# The load balancer's health check carries no secret and learns nothing but "ok".
OPEN_PATHS = frozenset({"/health"})

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secret(app: Sanic, secret: str) -> None:
    """Adds the check of the shared secret before every route but OPEN_PATHS."""
    expected = SECRET_FORMAT.format(secret=secret).encode()

    async def check(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(SECRET_HEADER, "").encode()
        if hmac.compare_digest(given, expected):  # constant time: no guessing by timing
            return None
        logger.warning("Refused a request to %s without the shared secret", request.path)
        return response.json({"error": "unauthorized"}, status=401)

    app.register_middleware(check, "request")


def build_app(actions: str, cors: list[str] | str | None, auto_reload: bool = False) -> Sanic:
    settings = load_action_server_settings()
    if not settings.secret and not is_loopback(settings.host):
        raise SystemExit(
            f"The action server listens on {settings.host}: set CART_ACTION_SERVER_SECRET "
            "(and the same on the Rasa servers), or listen on 127.0.0.1."
        )
    app = create_app(actions, cors_origins=cors, auto_reload=auto_reload)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    if settings.secret:
        require_secret(app, settings.secret)
    return app


def main(argv: list[str] | None = None) -> None:
    """rasa_sdk.__main__.main_from_args, with the app built by `build_app`."""
    args = create_argument_parser().parse_args(argv)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
        args.log_file,
        args.loglevel,
        args.logging_config_file,
    )
    utils.update_sanic_log_level()
    app = build_app(args.actions, args.cors, args.auto_reload)
    host = load_action_server_settings().host
    logger.info("Action endpoint is up and running on http://%s:%s", host, args.port)
    app.run(host, args.port, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main(sys.argv[1:])
