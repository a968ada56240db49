"""vodwatch: drop a file on a folder, it reaches its Huawei Cloud VOD media asset."""

__version__ = "0.1.0"
