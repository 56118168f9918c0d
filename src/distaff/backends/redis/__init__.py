"""Redis as the stream broker between processes (`redis_url`): see `relay.py`."""

from distaff.backends.redis.relay import RedisRelay

__all__ = ["RedisRelay"]
