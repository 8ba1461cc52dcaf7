"""Copy every user's mail from the old provider (or the local backup) to the new provider.

Public entry points (the CLI `mailmig copy` / `mailmig verify --copy` and the TUI's Copy tab use these):

- `CopyEngine(project, credentials, options, controls, on_event).run() -> RunSummary`
- `CopyOptions(users, workers, source="old"|"archive", since, dry_run, copy_dir, archive, …)`
- `plan_folders(source_folders, target_info, config) -> [FolderMapping]` and `plan_user(...)`
- `verify_copy(project, credentials, options, on_event) -> [CopyCheck]`
- `summary.record_copy_run / record_copy_verify / last_copy_line` for the project file and dashboard
"""

from mailmig_tui.core.copy.config import CopyConfig, default_copy_dir, project_copy_config
from mailmig_tui.core.copy.engine import CopyEngine, CopyOptions, FolderCopied, UserFolders, plan_user
from mailmig_tui.core.copy.folders import FolderMapping, SourceFolder, TargetFolder, TargetInfo, plan_folders

__all__ = ["CopyConfig", "CopyEngine", "CopyOptions", "FolderCopied", "FolderMapping", "SourceFolder", "TargetFolder",
           "TargetInfo", "UserFolders", "default_copy_dir", "plan_folders", "plan_user", "project_copy_config"]
