using System.Diagnostics.CodeAnalysis;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace AsyncHttp;

/// <summary>Requests with a JSON body (System.Text.Json), for <see cref="ClientSession"/>.</summary>
public static class ClientSessionJsonExtensions
{
    /// <summary>Sends a POST with <paramref name="value"/> as JSON (trimming- and AOT-safe) and returns at the response headers.</summary>
    /// <typeparam name="T">The type of the body.</typeparam>
    /// <param name="session">The session.</param>
    /// <param name="url">An absolute URL, or one relative to the base address.</param>
    /// <param name="value">The body.</param>
    /// <param name="jsonTypeInfo">The source-generated metadata of <typeparamref name="T"/>.</param>
    /// <param name="options">Per-request settings.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public static Task<ClientResponse> PostAsJsonAsync<T>(this ClientSession session, string url, T value, JsonTypeInfo<T> jsonTypeInfo, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendJsonAsync(session, HttpMethod.Post, url, value, jsonTypeInfo, options, cancellationToken);

    /// <summary>Sends a PUT with <paramref name="value"/> as JSON (trimming- and AOT-safe) and returns at the response headers.</summary>
    /// <inheritdoc cref="PostAsJsonAsync{T}(ClientSession, string, T, JsonTypeInfo{T}, RequestOptions?, CancellationToken)"/>
    public static Task<ClientResponse> PutAsJsonAsync<T>(this ClientSession session, string url, T value, JsonTypeInfo<T> jsonTypeInfo, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendJsonAsync(session, HttpMethod.Put, url, value, jsonTypeInfo, options, cancellationToken);

    /// <summary>Sends a PATCH with <paramref name="value"/> as JSON (trimming- and AOT-safe) and returns at the response headers.</summary>
    /// <inheritdoc cref="PostAsJsonAsync{T}(ClientSession, string, T, JsonTypeInfo{T}, RequestOptions?, CancellationToken)"/>
    public static Task<ClientResponse> PatchAsJsonAsync<T>(this ClientSession session, string url, T value, JsonTypeInfo<T> jsonTypeInfo, RequestOptions? options = null, CancellationToken cancellationToken = default)
        => SendJsonAsync(session, HttpMethod.Patch, url, value, jsonTypeInfo, options, cancellationToken);

    /// <summary>Sends a POST with <paramref name="value"/> as JSON, serialized by reflection.</summary>
    /// <typeparam name="T">The type of the body.</typeparam>
    /// <param name="session">The session.</param>
    /// <param name="url">An absolute URL, or one relative to the base address.</param>
    /// <param name="value">The body.</param>
    /// <param name="jsonOptions">Serializer options; <see cref="JsonSerializerOptions.Web"/> when null.</param>
    /// <param name="options">Per-request settings.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    [RequiresUnreferencedCode("Reflection-based JSON; use the JsonTypeInfo overload for trimming and AOT.")]
    [RequiresDynamicCode("Reflection-based JSON; use the JsonTypeInfo overload for trimming and AOT.")]
    public static Task<ClientResponse> PostAsJsonAsync<T>(this ClientSession session, string url, T value, JsonSerializerOptions? jsonOptions = null, RequestOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        return session.PostAsync(url, JsonContent.Create(value, options: jsonOptions ?? JsonSerializerOptions.Web), options, cancellationToken);
    }

    private static Task<ClientResponse> SendJsonAsync<T>(ClientSession session, HttpMethod method, string url, T value, JsonTypeInfo<T> jsonTypeInfo, RequestOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        return session.SendAsync(method, url, JsonContent.Create(value, jsonTypeInfo), options, cancellationToken);
    }
}
