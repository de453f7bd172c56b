"""Pipelines that read files and folders (module-level, so their source can be fingerprinted)."""

from __future__ import annotations

from pathlib import Path

from labledger.pipelines import File, Folder, pipeline, step


@step
def read_text(path: str) -> str:
    return Path(path).read_text()


@step
def read_file(path: Path) -> str:
    assert isinstance(path, Path)
    return path.read_text()


@step
def list_folder(folder: Path) -> list[str]:
    return sorted(
        f"{p.relative_to(folder).as_posix()}={p.read_text()}"
        for p in folder.rglob("*")
        if p.is_file()
    )


@step
def read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


@pipeline
def by_bytes(path: str = "assay.csv") -> None:
    read_bytes(path)


@step
def shout(text: str) -> str:
    return text.upper()


@step(reads=["settings.txt"])
def with_settings(text: str) -> str:
    return text + Path("settings.txt").read_text()


@step
def join_all(paths: list[str]) -> str:
    return "".join(Path(p).read_text() for p in paths)


@pipeline
def by_string(path: str = "assay.csv") -> None:
    shout(read_text(path))


@pipeline
def by_file(path: str = "assay.csv", store: bool = True) -> None:
    read_file(File(path, store=store))


@pipeline
def by_folder(folder: str = "plates") -> None:
    list_folder(Folder(folder))


@pipeline
def by_path_value(path: str = "assay.csv") -> None:
    read_file(Path(path))


@pipeline
def declared(path: str = "assay.csv") -> None:
    with_settings(read_text(path))


@pipeline
def many(paths: list[str]) -> None:
    join_all(paths)


@pipeline
def folder_as_text(folder: str = "plates") -> None:
    read_text(folder)


@step
def edits_its_input(path: str) -> str:
    text = Path(path).read_text()
    Path(path).write_text(text + "!")  # a file changing while the step reads it
    return text


@pipeline
def self_editing(path: str = "assay.csv") -> None:
    edits_its_input(path)


@step
def read_both(first: Path, second: Path) -> str:
    return first.read_text() + second.read_text()


@pipeline
def same_file_twice(path: str = "assay.csv") -> None:
    read_both(File(path), Path(path))


@step
def peek(path: Path) -> str:
    return path.read_text()


@step
def regenerate(version: int, after: str) -> int:
    Path("shared.txt").write_text(f"version {version}\n")
    return version


@step
def consume(path: Path, after: int) -> str:
    return path.read_text()


@pipeline
def rewritten_mid_run(version: int = 1) -> None:
    consume(File("shared.txt"), regenerate(version, peek(File("shared.txt"))))


@step
def list_texts(folder: Path) -> list[str]:
    return sorted(f"{p.name}={p.read_text()}" for p in folder.glob("*.txt"))


@pipeline
def whole_project() -> None:
    list_texts(Folder("."))


@step
def make_frame(n: int):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame({"x": list(range(n))})


@step
def frame_total(frame) -> float:  # type: ignore[no-untyped-def]
    return float(frame["x"].sum())  # pandas is used only through the value it receives


@pipeline
def frames(n: int = 3) -> None:
    frame_total(make_frame(n))


NOTES = File("notes.txt")


@step
def read_notes() -> str:
    return Path(NOTES).read_text()  # opened through a module-level constant, not an argument


@pipeline
def notes_constant() -> None:
    read_notes()
