"""One LDAP connection of an AD instance: the bind as the service account, always over TLS
(LDAPS, or StartTLS on ldap://; a plain-text bind would put its password on the wire), one
operation at a time, and the mapping of LDAP's failures to the engine's errors."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

from accessctl.core.model import ProviderInstance
from accessctl.providers.ad.ldap import (
    INSUFFICIENT_ACCESS_RIGHTS,
    NO_SUCH_OBJECT,
    RETRYABLE_CODES,
    STRONGER_AUTH_REQUIRED,
    member_changes,
)
from accessctl.providers.ad.schema import DEFAULT_PASSWORD_ENV, DEFAULT_TIMEOUT
from accessctl.providers.base import NotFound, ProviderError


class LdapSession:
    """The connection and the operations every part of the AD provider makes."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        settings = instance.settings
        self._url = str(settings.get("url", "")).rstrip("/")
        self._base_dn = str(settings.get("base_dn", ""))
        self._bind_dn = str(settings.get("bind_dn", ""))
        self._password_env = str(settings.get("password_env") or DEFAULT_PASSWORD_ENV)
        self._password = environ.get(self._password_env, "")
        self._start_tls = bool(settings.get("start_tls", False))
        self._tls_validate = bool(settings.get("tls_validate", True))
        self._ca_file = settings.get("ca_file")
        self._timeout = float(settings.get("timeout_seconds") or DEFAULT_TIMEOUT)
        if not self._url.lower().startswith(("ldap://", "ldaps://")):
            raise ProviderError(f"AD url {self._url!r} must start with ldaps:// or ldap://")
        if self._url.lower().startswith("ldap://") and not self._start_tls:
            raise ProviderError(
                f"AD url {self._url} is plain LDAP: set start_tls: true (or use ldaps://); "
                "the engine never sends its password without TLS")
        self._connection: Any = None

    def close(self) -> None:
        """Unbind; the next call opens a fresh connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            # Closing a dead socket fails, and there is nothing left to release then.
            with contextlib.suppress(Exception):
                connection.unbind()

    def _search(self, base: str, search_filter: str, attributes: list[str],
                base_scope: bool = False) -> tuple[list[Any], int, str]:
        from ldap3 import BASE, SUBTREE

        def run(connection: Any) -> Any:
            return connection.search(base, search_filter, BASE if base_scope else SUBTREE,
                                     attributes=attributes)

        code, message, response = self._operation(run)
        entries = [e for e in response or [] if e.get("type") == "searchResEntry"]
        return entries, code, message

    def _modify(self, dn: str, operation: str, value: str) -> tuple[int, str]:
        code, message, _ = self._operation(
            lambda connection: connection.modify(dn, member_changes(operation, value)))
        return code, message

    def _operation(self, call: Any) -> tuple[int, str, Any]:
        """Run one operation; its result code, message and response. Transport failures and the
        server's busy / unavailable answers raise a retryable error (and drop the connection)."""
        from ldap3.core.exceptions import LDAPException

        connection = self._connect()
        try:
            call(connection)
        except LDAPException as error:
            self.close()
            raise _transport_error(self._url, error) from None
        result = connection.result or {}
        code = int(result.get("result", -1))
        message = str(result.get("message") or result.get("description") or "")
        if code in RETRYABLE_CODES:
            self.close()
            raise ProviderError(f"AD {self._url} answered {code} {result.get('description')}: "
                                f"{message}", retryable=True)
        return code, message, connection.response

    def _connect(self) -> Any:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        if not self._password:
            raise ProviderError(f"no AD bind password: set the environment variable "
                                f"{self._password_env}")
        import ssl

        from ldap3 import SIMPLE, SYNC, Connection, Server, Tls
        from ldap3.core.exceptions import LDAPException

        tls = Tls(validate=ssl.CERT_REQUIRED if self._tls_validate else ssl.CERT_NONE,
                  ca_certs_file=str(self._ca_file) if self._ca_file else None)
        server = Server(self._url, use_ssl=self._url.lower().startswith("ldaps://"), tls=tls,
                        get_info=None, connect_timeout=self._timeout)
        connection = Connection(
            server, user=self._bind_dn, password=self._password, authentication=SIMPLE,
            client_strategy=SYNC,  # no internal retries: change/retry.py is the one retry loop
            raise_exceptions=False,
            receive_timeout=math.ceil(self._timeout),  # whole seconds: ldap3 packs it as an int
            auto_referrals=False,  # never follow a referral (and our credentials) elsewhere
            auto_range=False, return_empty_attributes=False,  # ranges are read by _member_dns
        )
        try:
            connection.open()
            if self._start_tls and not server.ssl:
                connection.start_tls()
            bound = connection.bind()
        except LDAPException as error:
            raise _transport_error(self._url, error) from None
        if not bound:
            result = connection.result or {}
            code = int(result.get("result", -1))
            connection.unbind()
            text = f"{code} {result.get('description')}: {result.get('message')}"
            if code in RETRYABLE_CODES:
                raise ProviderError(f"AD bind to {self._url} failed ({text})", retryable=True)
            if code == STRONGER_AUTH_REQUIRED:
                text += " (the DC requires TLS: use ldaps:// or start_tls: true)"
            raise ProviderError(f"AD bind as {self._bind_dn} to {self._url} refused ({text})")
        self._connection = connection
        return connection

    def _error(self, code: int, message: str, doing: str) -> ProviderError:
        if code == NO_SUCH_OBJECT:
            return NotFound(f"{doing}: no such object ({message})")
        if code == INSUFFICIENT_ACCESS_RIGHTS:
            return ProviderError(f"{doing}: insufficient access rights ({message}); the service "
                                 "account needs Write Members on the group's OU")
        return ProviderError(f"{doing}: LDAP result {code}: {message}")



def _transport_error(url: str, error: Exception) -> ProviderError:
    """Lost or refused connections and timeouts may pass; a certificate or a malformed request
    will not."""
    from ldap3.core.exceptions import (
        LDAPCertificateError,
        LDAPCommunicationError,
        LDAPResponseTimeoutError,
    )

    text = str(error)
    if isinstance(error, LDAPCertificateError) or "certificate" in text.lower():
        return ProviderError(f"AD {url}: TLS certificate not trusted ({text}); give the issuing "
                             "CA in ca_file, and a url whose host name the certificate names")
    if isinstance(error, LDAPCommunicationError | LDAPResponseTimeoutError):
        return ProviderError(f"AD {url} unreachable: {text}", retryable=True)
    return ProviderError(f"AD {url}: {type(error).__name__}: {text}")

