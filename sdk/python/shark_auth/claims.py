"""Reading an access token's claims WITHOUT verifying it: for logging,
display and routing decisions on a token you already trust (e.g. one the
server just issued to you). To accept a token from someone else, verify it:
shark_auth.resource.verify_request or shark_auth.tokens.verify_token."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ._jwt import b64u_decode


@dataclass
class ActorClaim:
    """One hop of an RFC 8693 `act` chain."""
    sub: str            # the agent's client_id at this hop
    iat: int            # when it was delegated (Unix time)
    scope: Optional[str]  # scopes at this hop
    jkt: Optional[str]    # cnf.jkt of the DPoP key bound at this hop


def actor_chain(act: Any) -> List[ActorClaim]:
    """The nested `act` objects, outermost (most recent) first."""
    out: List[ActorClaim] = []
    while isinstance(act, dict) and len(out) < 64:
        out.append(ActorClaim(sub=str(act.get("sub", "")), iat=int(act.get("iat") or 0),
                              scope=act.get("scope"), jkt=act.get("jkt")))
        act = act.get("act")
    return out


class AgentTokenClaims:
    """The payload of a JWT, decoded without checking its signature."""

    def __init__(self, payload: Dict[str, Any]) -> None:
        self.raw: Dict[str, Any] = payload

    @classmethod
    def parse(cls, jwt_token: str) -> "AgentTokenClaims":
        """Decode a JWT payload without verifying the signature. ValueError when
        the string is not a JWT with a JSON object payload."""
        try:
            parts = jwt_token.split(".")
            if len(parts) != 3:
                raise ValueError("a JWT has three dot-separated parts")
            payload = json.loads(b64u_decode(parts[1]))
        except (AttributeError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError("not a JWT: %s" % e) from None
        if not isinstance(payload, dict):
            raise ValueError("the JWT payload is not a JSON object")
        return cls(payload)

    def delegation_chain(self) -> List[ActorClaim]:
        """Walk the `act` claim chain outermost-first; [] for a direct token."""
        return actor_chain(self.raw.get("act"))

    def is_delegated(self) -> bool:
        return isinstance(self.raw.get("act"), dict)

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scope or "").split()

    @property
    def sub(self) -> str:
        return str(self.raw.get("sub", ""))

    @property
    def iss(self) -> str:
        return str(self.raw.get("iss", ""))

    @property
    def exp(self) -> int:
        return int(self.raw.get("exp") or 0)

    @property
    def iat(self) -> int:
        return int(self.raw.get("iat") or 0)

    @property
    def scope(self) -> Optional[str]:
        v = self.raw.get("scope")
        return v if isinstance(v, str) else None

    @property
    def jkt(self) -> Optional[str]:
        cnf = self.raw.get("cnf")
        return cnf.get("jkt") if isinstance(cnf, dict) else None

    def __repr__(self) -> str:
        return "AgentTokenClaims(sub=%r, scope=%r, delegated=%r)" % (
            self.sub, self.scope, self.is_delegated())
