using Microsoft.Extensions.Options;

namespace AsyncHttp.Extensions.Internal;

/// <summary>
/// Validates the options of registered connectors with <see cref="ConnectorOptions.Validate"/> and the binding errors,
/// each message naming the connector and the key, so that a bad setting stops the host at start.
/// </summary>
internal sealed class ClientConnectorOptionsValidator : IValidateOptions<ConnectorOptions>
{
    private readonly ClientConnectorCatalog _catalog;
    private readonly ClientSessionOptionsState _state;

    public ClientConnectorOptionsValidator(ClientConnectorCatalog catalog, ClientSessionOptionsState state)
    {
        _catalog = catalog;
        _state = state;
    }

    public ValidateOptionsResult Validate(string? name, ConnectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name is null || !_catalog.Contains(name))
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = _state.GetErrors(name, options);
        if (errors.Count == 0)
        {
            _state.Accept(name, options);
            return ValidateOptionsResult.Success;
        }

        // As for sessions: once the host runs, the registry logs an invalid reload and keeps the last valid settings.
        return _state.HostStarted ? ValidateOptionsResult.Skip : ValidateOptionsResult.Fail(errors);
    }
}
