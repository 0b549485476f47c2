"""Jobs of workflow/rules/data.smk (and the USPS rule of human.smk): fetch, verify, store."""

from __future__ import annotations

from ..data import acquire_mnist, acquire_usps

__all__ = ["acquire_mnist", "acquire_usps"]
