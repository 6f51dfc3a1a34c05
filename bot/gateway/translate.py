"""OpenAI's chat completion shapes, in and out: a request body → neutral values, an answer → OpenAI's JSON.

Requests: messages (a string, or text parts) with the roles system, developer (read as system), user
and assistant; in user messages also `image_url` parts whose URL is a base64 `data:` URL (decoded here,
checked, priced and sized by `bot.media` like a chat photo); `max_completion_tokens` or `max_tokens`,
`temperature`, `top_p`, `stop`, `stream` and `stream_options.include_usage`. Other fields OpenAI defines
are ignored, as servers that copy its format do, except those that would change what the answer is and
can't be honoured, which are refused in one line (`BadArguments`, a 400): tools and function calling,
`n` above 1, image URLs to fetch (the bot fetches nothing a client names: no requests to inner addresses
on its behalf, no bandwidth on the owner's bill), audio and file parts.

Answers carry `usage` as OpenAI reports it, plus the dollars charged as `cost`, as OpenRouter reports it.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import b64decode
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.incoming import Attachment
from bot.money import nanos_to_usd
from bot.pricing import MTOK, Rates
from bot.providers.base import ChatMessage, Role, Sampling, TokenUsage
from bot.refusals import BadArguments

NO_TOOLS = "Tools and function calling are not supported by capbot's gateway; send the request without them"
NO_FETCHING = (
    "capbot does not fetch image URLs; send the image inline as a base64 data: URL "
    "(data:image/jpeg;base64,...), PNG, JPEG, WebP or GIF"
)
NOT_A_DATA_URL = (
    "not a base64 data: URL; send the image as data:image/jpeg;base64,... (PNG, JPEG, WebP or GIF)"
)
BAD_BASE64 = "the data: URL's base64 is not valid"
NO_AUDIO = (
    "audio parts (input_audio) are not supported by capbot's gateway; send the recording's transcript as text"
)
USER_IMAGES = "image_url parts are taken in user messages only"
# `data:[<media type>][;parameters];base64,`: the head of an inline image, up to its comma
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,;]*)*;base64", re.IGNORECASE)


class _ImageUrl(BaseModel):
    model_config = ConfigDict(extra="allow")
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None
    image_url: _ImageUrl | str | None = None  # a bare string: what some older clients send


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[_Part] | None = None
    tool_calls: list[Any] | None = None
    function_call: Any = None


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[_Message] = Field(min_length=1)
    stream: bool = False
    stream_options: _StreamOptions | None = None
    max_completion_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1)
    tools: list[Any] | None = None
    functions: list[Any] | None = None


@dataclass(frozen=True)
class ImageInput:
    """An image part of a user message, decoded from its data: URL: the bytes are checked (a real image
    within MAX_MEDIA_MB, at most MAX_IMAGES in the request) by `bot.media.attachments`, as a chat photo's."""

    message: int  # its message's index in `Completion.messages`
    attachment: Attachment
    low: bool  # the client asked for `detail: "low"`


@dataclass(frozen=True)
class Completion:
    """A chat completion request, checked: what the gateway hands to `bot.answering`."""

    model: str  # "provider/model", as the client named it
    messages: tuple[ChatMessage, ...]  # the text; the images are apart, in `images`
    max_output: int | None  # what the client asked for, if anything
    sampling: Sampling
    stream: bool
    include_usage: bool
    images: tuple[ImageInput, ...] = ()  # in the order the client sent them, earlier turns included


def parse_completion(raw: bytes) -> Completion:
    """The request body, or `BadArguments` saying what is wrong with it (the first problem found)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested thousands deep
        raise BadArguments("The body is not valid JSON") from None
    try:
        body = _Body.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadArguments(f"{where}: {first['msg']}") from None
    if body.tools or body.functions:
        raise BadArguments(NO_TOOLS)
    if body.n is not None and body.n > 1:
        raise BadArguments("n: capbot gives one answer per request (n must be 1)")
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    if len(stop) > 4:
        raise BadArguments("stop: at most 4 sequences")
    messages, images = [], []
    for index, message in enumerate(body.messages):
        text, found = _message(index, message)
        messages.append(text)
        images.extend(found)
    return Completion(
        model=body.model,
        messages=tuple(messages),
        max_output=body.max_completion_tokens or body.max_tokens,
        sampling=Sampling(body.temperature, body.top_p, stop),
        stream=body.stream,
        include_usage=body.stream_options is not None and body.stream_options.include_usage,
        images=tuple(images),
    )


_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


def _message(index: int, message: _Message) -> tuple[ChatMessage, list[ImageInput]]:
    """One message's text, and its images (user messages only) decoded from their data: URLs."""
    role = _ROLES.get(message.role)
    if role is None or message.tool_calls or message.function_call:  # a tool's turn, or a call of one
        raise BadArguments(NO_TOOLS)
    content = message.content
    images: list[ImageInput] = []
    if isinstance(content, list):
        texts = []
        for number, part in enumerate(content):
            where = f"messages.{index}.content.{number}"
            match part.type:
                case "text":
                    texts.append(part.text or "")
                case "image_url" if role != "user":
                    raise BadArguments(f"{where}: {USER_IMAGES}")
                case "image_url":
                    images.append(_image(index, part, f"{where}.image_url"))
                case "input_audio":
                    raise BadArguments(f"{where}: {NO_AUDIO}")
                case other:
                    raise BadArguments(
                        f"{where}: {other!r} parts are not supported; send text and image_url parts"
                    )
        content = "".join(texts)
    return ChatMessage(role, content or ""), images


def _image(index: int, part: _Part, where: str) -> ImageInput:
    """An `image_url` part's image, decoded from its base64 data: URL; any other URL is refused."""
    given = part.image_url
    spec = _ImageUrl(url=given) if isinstance(given, str) else given
    url = spec.url if spec is not None else ""
    if url[:8].lower().startswith(("http://", "https://")):
        raise BadArguments(f"{where}: {NO_FETCHING}")
    head, comma, encoded = url.partition(",")
    found = _DATA_URL.fullmatch(head) if comma else None
    if spec is None or found is None:
        raise BadArguments(f"{where}: {NOT_A_DATA_URL}")
    try:
        data = b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadArguments(f"{where}: {BAD_BASE64}") from None
    mime = (found["mime"] or "application/octet-stream").lower()  # as declared: the bytes decide (bot.media)
    return ImageInput(index, Attachment("image", data, mime), spec.detail == "low")


def _dollars(nanos: int) -> float:
    """A charge as a JSON number, as OpenRouter sends `cost`. Exact: an amount of nano-dollars below a
    million dollars has at most 15 significant digits, which a float's shortest form gives back as is."""
    return float(nanos_to_usd(nanos))


def usage_json(usage: TokenUsage | None, charged: int) -> dict[str, Any]:
    """OpenAI's `usage`, plus `cost` (dollars charged). Without a provider report the tokens are unknown
    (0) and the cost is the bound of what was received."""
    usage = usage or TokenUsage()
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "cost": _dollars(charged),
    }


@dataclass(frozen=True)
class Answer:
    """What every response of one completion shares (`id`, `created`, `model`) and builds from."""

    id: str
    created: int
    model: str

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def completion(self, text: str, finish: str, usage: dict[str, Any]) -> dict[str, Any]:
        """The whole answer at once (`stream: false`)."""
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        return self._head("chat.completion") | {"choices": [choice], "usage": usage}

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        """One streamed chunk."""
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return self._head("chat.completion.chunk") | {"choices": [choice]}

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        """The last chunk when `stream_options.include_usage` asked for it: no choices, the usage."""
        return self._head("chat.completion.chunk") | {"choices": [], "usage": usage}


def error_json(message: str, kind: str, code: str | None) -> dict[str, Any]:
    """OpenAI's error body, which its SDKs read into the exception they raise."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _per_token(per_mtok: Decimal) -> str:
    """Dollars per token as OpenRouter writes them: a plain decimal string ("0.00000015")."""
    value = (per_mtok / MTOK).normalize()
    return format(value, "f") if value else "0"


def model_json(model_id: str, owned_by: str, rates: Rates) -> dict[str, Any]:
    """One `GET /v1/models` entry: OpenAI's shape, with OpenRouter's `pricing` (dollars per token, per
    request) and the context length where known."""
    pricing = {
        "prompt": _per_token(rates.input),
        "completion": _per_token(rates.output),
        "request": format(rates.per_request.normalize(), "f") if rates.per_request else "0",
        "input_cache_read": _per_token(rates.cached_input),
        "input_cache_write": _per_token(rates.cache_write),
        "internal_reasoning": _per_token(rates.reasoning),
    }
    entry: dict[str, Any] = {"id": model_id, "object": "model", "created": 0, "owned_by": owned_by}
    return entry | {"pricing": pricing, "context_length": rates.context_window}
