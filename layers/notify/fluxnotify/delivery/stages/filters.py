"""Stage ``filters``: which events an Alert keeps out, on the raw event before the metadata merge.

--no-cross-namespace-refs (in notification-controller's words), then the Alert annotations
``fluxnotify.io/reasons``, ``exclude-reasons`` and ``clusters`` (delivery/annotations.py). A
digest is not filtered again: its events were, one by one.
"""

from __future__ import annotations

from fluxnotify.config.options import ConfigError
from fluxnotify.delivery.annotations import AnnotationError, alert_extensions, skip_rule
from fluxnotify.delivery.plan import Context, Planned
from fluxnotify.errors import Skip


class Filters:
    name = "filters"

    def run(self, item: Planned, ctx: Context) -> Planned:
        alert, raw = item.alert, item.raw
        if alert is None or raw is None:
            return item
        ref = raw.involved_object
        if ctx.no_cross_namespace_refs and ref.namespace != alert.metadata.namespace:
            raise Skip(
                "discarding event, access denied to cross-namespace sources: alert "
                f"'{alert.metadata.key}' can't process event from '{ref.kind}/{ref.namespace}/{ref.name}', "
                "cross-namespace references have been blocked"
            )
        try:
            ext = alert_extensions(alert)
        except AnnotationError as err:
            raise ConfigError(f"Alert {alert.metadata.key}: {err}") from None
        if not ctx.digest:
            rule = skip_rule(ext, raw, ctx.cluster)
            if rule is not None:
                raise Skip(rule)
        return item.but(ext=ext)
