"""The application core: the records every intake shares, the ports (interfaces) the
use cases need, and the use cases themselves. Imports no transport, no database
driver and no aiohttp; ``ivr.domain`` is the only package of ours below it."""
