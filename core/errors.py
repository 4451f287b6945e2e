"""Every error the engine raises, in one tree.

    CentwiseError                      base; carries provider, model, request_id
    ├── ConfigError                    a config or price file is wrong (names file and key)
    ├── InputError                     a prompt or imported file is unusable
    │   ├── ContextTooLongError        the prompt cannot fit the model's window
    │   └── UnsupportedParameterError  the provider cannot honour a request setting
    ├── LedgerError                    the ledger database is unusable
    │   ├── CorruptLedgerError         not a Centwise ledger, or damaged (kept aside)
    │   └── StorageUnavailableError    the shared database cannot be reached
    ├── BudgetError                    a budget refused the request
    │   ├── InputTokenLimitError       prompt over [budget].max_input_tokens
    │   └── BudgetExceededError        a daily/monthly hard limit would be crossed
    ├── KeyringError                   no OS keyring backend, or it failed
    └── ProviderError                  a provider call failed
        ├── AuthenticationError        401/403: the key was rejected
        ├── RateLimitError             429
        ├── OverloadedError            5xx, Anthropic 529
        ├── ProviderTimeoutError       connect or read timeout
        ├── ConnectionFailedError      network failure, reset mid-stream
        ├── BadRequestError            400/404/422: the request itself is wrong
        │   └── ProviderContextLengthError  the provider says the context is too long
        ├── ContentFilteredError       the provider refused the content
        ├── MalformedResponseError     a reply that does not parse
        ├── UnsafeHeaderError          a header value holds CR/LF or another control
        │                              character (e.g. a pasted key); nothing was sent
        └── CircuitOpenError           the breaker for this provider/model is open

The CLI maps these to exit codes (2 usage/config/input, 3 budget, 4 provider) and the
GUI turns any of them into one readable message; neither shows a traceback.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetError",
    "BudgetExceededError",
    "CentwiseError",
    "CircuitOpenError",
    "ConfigError",
    "ConnectionFailedError",
    "ContentFilteredError",
    "ContextTooLongError",
    "CorruptLedgerError",
    "InputError",
    "InputTokenLimitError",
    "KeyringError",
    "LedgerError",
    "MalformedResponseError",
    "OverloadedError",
    "ProviderContextLengthError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "StorageUnavailableError",
    "UnsafeHeaderError",
    "UnsupportedParameterError",
]


class CentwiseError(Exception):
    """Base of every Centwise error. ``str(err)`` is a message a user understands."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.request_id = request_id

    @property
    def kind(self) -> str:
        """A short stable name for records and JSON output, e.g. ``rate_limit``."""
        name = type(self).__name__.removesuffix("Error")
        out = []
        for i, ch in enumerate(name):
            if ch.isupper() and i:
                out.append("_")
            out.append(ch.lower())
        return "".join(out) or "centwise"

    def __str__(self) -> str:
        return self.message


class ConfigError(CentwiseError):
    exit_code = 2


class InputError(CentwiseError):
    exit_code = 2


class ContextTooLongError(InputError):
    pass


class UnsupportedParameterError(InputError):
    """A setting the request asks for (``seed``, ...) that its provider cannot honour:
    refused before anything is sent, naming the setting and the provider. ``where`` is
    the first setting refused (``seed``, ``messages[1] image 1``), for a gateway's
    ``param`` field."""

    def __init__(self, message: str, *, where: str | None = None, **context: str | None) -> None:
        super().__init__(message, **context)
        self.where = where


class LedgerError(CentwiseError):
    exit_code = 2


class CorruptLedgerError(LedgerError):
    pass


class StorageUnavailableError(LedgerError):
    """The shared database cannot be reached (down, or the network is); retry later."""


class BudgetError(CentwiseError):
    exit_code = 3


class InputTokenLimitError(BudgetError):
    pass


class BudgetExceededError(BudgetError):
    def __init__(
        self,
        message: str,
        *,
        budget: str,
        spent_usd: object,
        limit_usd: object,
        **kw: str | None,
    ) -> None:
        super().__init__(message, **kw)
        self.budget = budget
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd


class KeyringError(CentwiseError):
    exit_code = 2


class ProviderError(CentwiseError):
    """A provider call failed. ``retryable`` says whether another attempt may succeed."""

    exit_code = 4
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        **kw: str | None,
    ) -> None:
        super().__init__(message, **kw)
        self.status = status
        self.retry_after = retry_after


class AuthenticationError(ProviderError):
    pass


class RateLimitError(ProviderError):
    retryable = True


class OverloadedError(ProviderError):
    retryable = True


class ProviderTimeoutError(ProviderError):
    retryable = True


class ConnectionFailedError(ProviderError):
    retryable = True


class BadRequestError(ProviderError):
    pass


class ProviderContextLengthError(BadRequestError):
    pass


class ContentFilteredError(ProviderError):
    pass


class MalformedResponseError(ProviderError):
    pass


class UnsafeHeaderError(ProviderError):
    pass


class CircuitOpenError(ProviderError):
    pass
