"""Copy every user's mail from the old provider (or the local backup) to the new provider.

Public entry points (the CLI `mailmig copy` / `mailmig verify --copy` and the TUI's Copy tab use these):

- `CopyEngine(project, credentials, options, controls, on_event).run() -> RunSummary`
- `CopyOptions(users, workers, source="old"|"archive", since, dry_run, copy_dir, archive, …)`
- `plan_folders(source_folders, target_info, config) -> [FolderMapping]` and `plan_user(...)`
- `verify_copy(project, credentials, options, on_event) -> [CopyCheck]`
- `summary.record_copy_run / record_copy_verify / last_copy_line` for the project file and dashboard

For the TUI's Copy tab: build `CopyOptions(project_path=path, config=project_copy_config(project, path),
copy_dir=default_copy_dir(path, config), users=[…], source=…)`, run `CopyEngine(...).run()` in a thread
worker with a `core.runs.Controls` (pause/resume/cancel) and forward events: the core/runs vocabulary
(RunStarted carries `phase` "prestage"|"delta"; UserPlanned/FolderStarted/Progress/Retrying/UserDone as
for the backup) plus `UserFolders` (the user's folder plan) and `FolderCopied` (a folder's tally). When
the run returns, `app.mutate(lambda p: record_copy_run(p, summary, list(engine.results.values()), started,
finished, engine.phase, options.source))`. `plan_user(project, creds, email, options)` gives the plan of
one user (network: call it from a worker); `verify_copy(project, creds, options, on_event)` returns one
`CopyCheck` per user (events: FolderCopyCheck, CopyCheck), saved with `record_copy_verify`.
"""

from mailmig_tui.core.copy.config import CopyConfig, default_copy_dir, project_copy_config
from mailmig_tui.core.copy.engine import CopyEngine, CopyOptions, FolderCopied, UserFolders, plan_user
from mailmig_tui.core.copy.folders import FolderMapping, SourceFolder, TargetFolder, TargetInfo, plan_folders
from mailmig_tui.core.copy.summary import last_copy_line, record_copy_run, record_copy_verify, user_copy_state
from mailmig_tui.core.copy.verify import CopyCheck, FolderCopyCheck, verify_copy

__all__ = ["CopyCheck", "CopyConfig", "CopyEngine", "CopyOptions", "FolderCopied", "FolderCopyCheck", "FolderMapping",
           "SourceFolder", "TargetFolder", "TargetInfo", "UserFolders", "default_copy_dir", "last_copy_line",
           "plan_folders", "plan_user", "project_copy_config", "record_copy_run", "record_copy_verify",
           "user_copy_state", "verify_copy"]
