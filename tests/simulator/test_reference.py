"""The simulator's enum tables and seeded data against the wire reference."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.simulator import Simulator, fixtures, wire

from .wirecheck import check_model

ENUM_TABLES = {
    "PlatformEnum": wire.PLATFORMS,
    "ApplicationNameEnum": wire.APPLICATION_NAMES,
    "PrivacyEnum": wire.PRIVACIES,
    "CapabilitiesEnum": wire.CAPABILITIES,
    "MechanismEnum": wire.MECHANISMS,
    "ExternalProviderTypeEnum": wire.EXTERNAL_PROVIDER_TYPES,
    "UpdatingStatusEnum": wire.UPDATING_STATUSES,
    "EmbeddedModelSchemaSemanticVersionEnum": wire.SEMANTIC_VERSIONS,
}


@pytest.mark.parametrize("name", sorted(ENUM_TABLES))
def test_enum_tables_match_the_reference(reference: dict[str, Any], name: str) -> None:
    enum = reference["enums"][name]
    assert ENUM_TABLES[name] == set(enum["values"]) | set(enum["added_in_5_0_1"])


def test_progress_statuses_are_reference_strings(reference: dict[str, Any]) -> None:
    statuses = {wire.INITIALIZED, wire.IN_PROGRESS, wire.COMPLETED, wire.FAILED, wire.CANCELED}
    for name in ("BackupStatusEnum", "ModelDownloadProgressStatusEnum"):
        assert statuses <= set(reference["enums"][name]["values"])
    assert wire.IN_PROGRESS == "IN-PROGRESS"


def test_seeded_data_is_wire_exact(reference: dict[str, Any]) -> None:
    sim = Simulator()
    for application in sim.state.applications.values():
        check_model(reference, "Application", application)
    for backup in sim.state.backups.values():
        check_model(reference, "Backup", backup)
    check_model(reference, "UserProfile", sim.state.user)
    for index in range(25):
        check_model(reference, "Application", fixtures.application(index, "WINDOWS"))
        check_model(reference, "Backup", fixtures.seeded_backup(index))
