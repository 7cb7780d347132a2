"""The AWS error the simulator answers with: HTTP status, `x-amzn-ErrorType` code and a message."""

from __future__ import annotations

from simulator.faults import ERROR_STATUS


class ApiError(Exception):
    """An AWS-style error response; botocore turns it into `ClientError` with `Error.Code == code`."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else ERROR_STATUS.get(code, 400)


def validation(message: str) -> ApiError:
    """A ValidationException (400)."""
    return ApiError("ValidationException", message)


def constraint(value: object, member: str, rule: str) -> ApiError:
    """A ValidationException worded the way AWS words a failed member constraint."""
    return validation(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must {rule}"
    )


def not_found(message: str) -> ApiError:
    """A ResourceNotFoundException (404)."""
    return ApiError("ResourceNotFoundException", message)
