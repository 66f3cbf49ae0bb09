"""The fluxnotify.io/* extensions, one module per stage, each a ``delivery.plan.Stage``.

Fixed order (delivery/planner.py): ``filters`` (on the raw event: --no-cross-namespace-refs,
reasons, clusters) → ``silences`` (muted for a while) → [on-change] → ``template`` (on the provider's view) →
``digest`` (gather) → ``thread`` (deliver as a reply).
"""
