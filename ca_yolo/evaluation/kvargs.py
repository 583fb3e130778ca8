"""Former home of the command-line helpers, now :mod:`ca_yolo.cli_args`; kept while
:mod:`ca_yolo.compare.config` still imports them from here."""

from ca_yolo.cli_args import ArgError, check_device, check_ultralytics_settings, parse_kv, quiet_ultralytics, split_list

__all__ = ["ArgError", "check_device", "check_ultralytics_settings", "parse_kv", "quiet_ultralytics", "split_list"]
