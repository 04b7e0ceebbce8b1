using System.Globalization;

namespace AsyncHttp.Samples.WebApi;

/// <summary>The endpoints: one fan-out through the <c>catalog</c> session, one view of every session's connector.</summary>
internal static class ItemsEndpoints
{
    public const string Session = "catalog";

    private const int MaxIds = 50;

    /// <summary>
    /// <c>GET /items?ids=1,2,3</c>: fetches <c>item/{id}</c> from the upstream for every id at once and returns one
    /// aggregate. The session's connector bounds how many run at once; the rest wait in its queue.
    /// </summary>
    public static async Task<IResult> GetItemsAsync(string? ids, ISessionRegistry sessions, CancellationToken cancellationToken)
    {
        if (!TryParseIds(ids ?? "1,2,3,4,5", out var idList))
        {
            return Results.BadRequest($"ids must be 1 to {MaxIds} comma-separated integers.");
        }

        var session = sessions.GetSession(Session);
        try
        {
            var items = await Task.WhenAll(idList.Select(id => FetchItemAsync(session, id, cancellationToken)));
            return Results.Ok(new ItemsAggregate(
                items.Length,
                items.Sum(i => (long)i.Size),
                items.Max(i => i.LatencyMs),
                items.Select(i => new ItemSummary(i.Id, i.Size, i.LatencyMs)).ToArray()));
        }
        catch (ClientTimeoutException ex)
        {
            // Which timeout fired, and its value, is in the message.
            return Results.Problem(ex.Message, statusCode: StatusCodes.Status504GatewayTimeout);
        }
        catch (ClientException ex)
        {
            return Results.Problem(ex.Message, statusCode: StatusCodes.Status502BadGateway);
        }
    }

    /// <summary>
    /// <c>GET /items/7</c>: one item through <see cref="CatalogClient"/>, a typed <see cref="HttpClient"/> on the same
    /// session. Its errors are the session's typed exceptions, as for the session's own calls.
    /// </summary>
    public static async Task<IResult> GetItemAsync(int id, CatalogClient catalog, CancellationToken cancellationToken)
    {
        try
        {
            var item = await catalog.GetItemAsync(id, cancellationToken);
            return Results.Ok(new ItemSummary(item.Id, item.Size, item.LatencyMs));
        }
        catch (ClientTimeoutException ex)
        {
            return Results.Problem(ex.Message, statusCode: StatusCodes.Status504GatewayTimeout);
        }
        catch (HttpRequestException ex)
        {
            // ClientException and HttpClient's own status errors (GetFromJsonAsync checks the status) alike.
            return Results.Problem(ex.Message, statusCode: StatusCodes.Status502BadGateway);
        }
    }

    /// <summary><c>GET /sessions</c>: limits, slots in use, queue and open connections of every session.</summary>
    public static IResult GetSessions(ISessionRegistry sessions)
        => Results.Ok(sessions.Names.ToDictionary(name => name, name => sessions.GetSession(name).Connector.Stats));

    private static async Task<UpstreamItem> FetchItemAsync(ClientSession session, int id, CancellationToken cancellationToken)
    {
        await using var response = await session.GetAsync($"item/{id}", cancellationToken: cancellationToken);
        response.EnsureSuccessStatusCode();

        // Deserialized straight from the connection (Content-Type checked); the end of the body gives the slot back.
        return await response.ReadFromJsonAsync<UpstreamItem>(cancellationToken: cancellationToken)
            ?? throw new ClientPayloadException($"item/{id} returned an empty JSON document.");
    }

    private static bool TryParseIds(string text, out int[] ids)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        ids = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
            {
                return false;
            }
        }

        return ids.Length is > 0 and <= MaxIds;
    }
}
