"""motcua — hệ thống thông tin giải quyết thủ tục hành chính (one-stop administrative-procedure system)."""

__version__ = "0.1.0"
